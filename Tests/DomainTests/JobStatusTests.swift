import Domain
import Testing

@Suite("JobStatus")
struct JobStatusTests {
    @Test func everyStatusIsReadFromItsStoredBytes() {
        for status in JobStatus.allCases {
            let parsed = Array(status.rawValue.utf8).withUnsafeBufferPointer { JobStatus(utf8: $0) }
            #expect(parsed == status)
        }
    }

    @Test func bytesThatAreNoStatusAreNone() {
        for name in ["", "pendinG", "runnin", "pausedx", "completes", "cancelleD", "fai1ed", "queued", "PENDING", "cancelled "] {
            let parsed = Array(name.utf8).withUnsafeBufferPointer { JobStatus(utf8: $0) }
            #expect(parsed == nil, "\(name)")
        }
    }
}
