import Domain
import Foundation
import Testing

@Suite("Timestamp ISO 8601")
struct TimestampTests {
    /// 2025-12-19T10:04:05Z
    static let reference: Int64 = 1_766_138_645_000

    @Test func formatsWholeSecondsUTC() {
        #expect(Timestamp(millisecondsSinceEpoch: Self.reference).iso8601 == "2025-12-19T10:04:05Z")
        #expect(Timestamp(millisecondsSinceEpoch: Self.reference + 999).iso8601 == "2025-12-19T10:04:05Z")
        #expect(Timestamp(millisecondsSinceEpoch: 0).iso8601 == "1970-01-01T00:00:00Z")
        #expect(Timestamp(millisecondsSinceEpoch: -1).iso8601 == "1969-12-31T23:59:59Z")
        #expect(Timestamp(millisecondsSinceEpoch: 951_782_400_000).iso8601 == "2000-02-29T00:00:00Z")
        #expect(Timestamp(millisecondsSinceEpoch: 4_107_542_399_000).iso8601 == "2100-02-28T23:59:59Z")
        #expect(Timestamp(millisecondsSinceEpoch: 253_402_300_799_000).iso8601 == "9999-12-31T23:59:59Z")
    }

    /// The text is the contract's: whole seconds, the milliseconds dropped, never rounded up.
    @Test func isWrittenAsTheContractsWholeSecondsText() {
        #expect(Timestamp(millisecondsSinceEpoch: 1_766_138_645_999).iso8601 == "2025-12-19T10:04:05Z")
        #expect(Timestamp(millisecondsSinceEpoch: 951_782_399_000).iso8601 == "2000-02-28T23:59:59Z")
        #expect(Timestamp(millisecondsSinceEpoch: -999).iso8601 == "1969-12-31T23:59:59Z")
        #expect(Timestamp(millisecondsSinceEpoch: -1000).iso8601 == "1969-12-31T23:59:59Z")
        #expect(Timestamp(millisecondsSinceEpoch: -1001).iso8601 == "1969-12-31T23:59:58Z")
    }

    @Test func formattingAgreesWithFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let millis = Int64.random(in: -2_208_988_800_000...4_102_444_800_000, using: &generator)
            let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
            let expected = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            #expect(Timestamp(millisecondsSinceEpoch: millis).iso8601 == expected, "\(millis)")
        }
    }

    @Test(arguments: [
        ("2025-12-19T10:04:05Z", reference),
        ("2025-12-19T10:04:05z", reference),
        ("2025-12-19 10:04:05Z", reference),
        ("2025-12-19T12:04:05+02:00", reference),
        ("2025-12-19T05:34:05-04:30", reference),
        ("2025-12-19T10:04:05+00:00", reference),
        ("2025-12-20T00:04:05+14:00", reference),
        ("2025-12-19T10:04:05.5Z", reference + 500),
        ("2025-12-19T10:04:05.05Z", reference + 50),
        ("2025-12-19T10:04:05.123Z", reference + 123),
        ("2025-12-19T12:04:05.250+02:00", reference + 250),
        ("2025-12-19", 1_766_102_400_000),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", -1000),
        ("2024-02-29", 1_709_164_800_000),
        ("2000-02-29T00:00:00Z", 951_782_400_000),
    ])
    func parses(_ text: String, _ millis: Int64) {
        #expect(Timestamp(iso8601: text)?.millisecondsSinceEpoch == millis, "\(text)")
    }

    @Test
    func parsesLongFractions() {
        // PostgreSQL/Supabase write microseconds; extra digits are truncated to milliseconds.
        #expect(Timestamp(iso8601: "2025-12-19T10:04:05.1234Z")?.millisecondsSinceEpoch == Self.reference + 123)
        #expect(Timestamp(iso8601: "2025-12-19T10:04:05.123456+00:00")?.millisecondsSinceEpoch == Self.reference + 123)
        #expect(Timestamp(iso8601: "2025-12-19T10:04:05.999999999Z")?.millisecondsSinceEpoch == Self.reference + 999)
    }

    @Test(arguments: [
        "2025-02-30", "2025-02-29", "2023-02-29T00:00:00Z", "1900-02-29", "2025-04-31", "2025-13-01", "2025-00-10", "2025-01-00",
        "2025-01-32", "2025-12-19T24:00:00Z", "2025-12-19T10:60:00Z", "2025-12-19T10:04:05", "2025-12-19T10:04Z",
        "2025-12-19T10:04:05.Z", "2025-12-19T10:04:05Zjunk", "2025-12-19T10:04:05+0200", "2025-12-19T10:04:05+02",
        "2025-12-19X", "2025/12/19", "25-12-19", "", "not a date", "2025-1-19", "2025-12-19T1:04:05Z", "+2025-12-19",
    ])
    func rejects(_ text: String) {
        #expect(Timestamp(iso8601: text) == nil, "\(text)")
    }

    @Test func roundTrips() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let seconds = Int64.random(in: -2_208_988_800...4_102_444_800, using: &generator)
            let timestamp = Timestamp(millisecondsSinceEpoch: seconds * 1000)
            #expect(Timestamp(iso8601: timestamp.iso8601) == timestamp)
        }
    }

    @Test func textThatWasWrittenReadsBackToTheSameSecond() throws {
        for seconds in stride(from: Int64(-2_000_000_000), through: 4_000_000_000, by: 86_399_123) {
            let stamp = Timestamp(millisecondsSinceEpoch: seconds * 1000)
            let read = try #require(Timestamp(iso8601: stamp.iso8601))
            #expect(read == stamp, "\(stamp.iso8601)")
        }
    }

    @Test func codableUsesISO8601() throws {
        let encoded = try JSONEncoder().encode([Timestamp(millisecondsSinceEpoch: Self.reference)])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["2025-12-19T10:04:05Z"]"#)
        let decoded = try JSONDecoder().decode([Timestamp].self, from: Data(#"["2025-12-19T12:04:05+02:00"]"#.utf8))
        #expect(decoded == [Timestamp(millisecondsSinceEpoch: Self.reference)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Timestamp].self, from: Data(#"["2025-02-30"]"#.utf8)) }
    }
}
