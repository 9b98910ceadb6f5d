public import Essentials

/// The status of a training job.
public enum JobStatus: String, Sendable, CaseIterable, Codable {
    case pending, running, paused, completed, failed, cancelled

    /// The status whose name is `name`'s bytes (as a database returns it), without building a String:
    /// `init(rawValue:)` on a String runs the standard library's string switch, ~400 instructions a row.
    @inlinable public init?(utf8 name: UnsafeBufferPointer<UInt8>) {
        let (status, spelling): (JobStatus, StaticString)
        switch (name.count, name.first) {
        case (7, UInt8(ascii: "p")): (status, spelling) = (.pending, "pending")
        case (7, UInt8(ascii: "r")): (status, spelling) = (.running, "running")
        case (6, UInt8(ascii: "p")): (status, spelling) = (.paused, "paused")
        case (9, UInt8(ascii: "c")) where name[1] == UInt8(ascii: "o"): (status, spelling) = (.completed, "completed")
        case (9, UInt8(ascii: "c")): (status, spelling) = (.cancelled, "cancelled")
        case (6, UInt8(ascii: "f")): (status, spelling) = (.failed, "failed")
        default: return nil
        }
        guard name.holds(literal: spelling) else { return nil }
        self = status
    }

    /// Completed, failed and cancelled jobs never change status again.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        case .pending, .running, .paused: false
        }
    }

    /// The contract's legal transitions: pending→running, pending→cancelled,
    /// running→paused, paused→running, running→completed, running→failed,
    /// running|paused→cancelled.
    public func canTransition(to next: JobStatus) -> Bool {
        switch (self, next) {
        case (.pending, .running), (.pending, .cancelled), (.running, .paused), (.paused, .running),
            (.running, .completed), (.running, .failed), (.running, .cancelled), (.paused, .cancelled):
            true
        default:
            false
        }
    }
}
