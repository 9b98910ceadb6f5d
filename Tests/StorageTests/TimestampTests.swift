import Domain
import Testing

@testable import Storage

@Suite("Timestamp")
struct TimestampTests {
    @Test func isWrittenAsTheContractsWholeSecondsText() {
        #expect(Timestamp(millisecondsSinceEpoch: 0).iso8601 == "1970-01-01T00:00:00Z")
        #expect(Timestamp(millisecondsSinceEpoch: 1_766_138_645_999).iso8601 == "2025-12-19T10:04:05Z")
        #expect(Timestamp(millisecondsSinceEpoch: 951_782_399_000).iso8601 == "2000-02-28T23:59:59Z")
        #expect(Timestamp(millisecondsSinceEpoch: -1).iso8601 == "1969-12-31T23:59:59Z")
    }

    @Test func textThatWasWrittenReadsBackToTheSameSecond() throws {
        for seconds in stride(from: Int64(-2_000_000_000), through: 4_000_000_000, by: 86_399_123) {
            let stamp = Timestamp(millisecondsSinceEpoch: seconds * 1000)
            let read = try #require(Timestamp(iso8601: stamp.iso8601))
            #expect(read == stamp, "\(stamp.iso8601)")
        }
    }
}
