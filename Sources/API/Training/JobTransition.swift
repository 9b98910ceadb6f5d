import Storage

extension TrainingJob {
    /// Applies a status change the contract allows (stamping `started_at` and
    /// `completed_at`), or throws the 409 that names the current status.
    mutating func transition(to next: JobStatus, at now: Timestamp) throws(APIError) {
        guard status.canTransition(to: next) else {
            throw APIError(
                .conflict, "Cannot change a \(status.rawValue) job to \(next.rawValue)",
                details: "current status: \(status.rawValue)", code: "INVALID_STATUS_TRANSITION"
            )
        }
        status = next
        updatedAt = now
        if next == .running && startedAt == nil { startedAt = now }
        if next.isTerminal { completedAt = now }
    }
}
