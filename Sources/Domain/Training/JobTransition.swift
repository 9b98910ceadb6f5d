/// A status change the contract does not allow (e.g. a completed job set running again).
public struct JobTransitionError: Error, Equatable {
    public var current: JobStatus
    public var requested: JobStatus
}

extension TrainingJob {
    /// Applies a status change the contract allows, stamping `started_at` on the first start and
    /// `completed_at` on the end; throws, changing nothing, for any other.
    public mutating func transition(to next: JobStatus, at now: Timestamp) throws(JobTransitionError) {
        guard status.canTransition(to: next) else { throw JobTransitionError(current: status, requested: next) }
        status = next
        updatedAt = now
        if next == .running && startedAt == nil { startedAt = now }
        if next.isTerminal { completedAt = now }
    }
}
