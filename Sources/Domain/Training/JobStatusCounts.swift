/// How many of a user's jobs are in each status: one slot per status, in
/// `JobStatus.allCases` order, so a stats request counts without hashing.
public struct JobStatusCounts: Sendable, Equatable {
    @usableFromInline var slots = [0, 0, 0, 0, 0, 0]

    /// No jobs in any status.
    @inlinable public init() {}

    public init(_ counts: [JobStatus: Int]) {
        for (status, count) in counts { self[status] = count }
    }

    @inlinable public subscript(status: JobStatus) -> Int {
        get { slots[status.slot] }
        set { slots[status.slot] = newValue }
    }

    /// The sum over every status.
    public var total: Int { slots.reduce(0, +) }
}

extension JobStatus {
    /// The status's place in `allCases`.
    @inlinable var slot: Int {
        switch self {
        case .pending: 0
        case .running: 1
        case .paused: 2
        case .completed: 3
        case .failed: 4
        case .cancelled: 5
        }
    }
}
