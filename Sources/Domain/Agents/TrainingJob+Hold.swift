/// A trainer's write refused in its own transaction: the token it came with is no longer the job's (a training agent's
/// claim, or the loss of the agent that held the job, replaced it after the request was authenticated).
public struct JobReassignedError: Error, Equatable {
    public init() {}
}

extension TrainingJob {
    /// The job as `agentID`'s claim at `now` leaves it: running (started now on its first start), held with a lease to
    /// `leaseUntil`, one more attempt, and `tokenHash` its one token (a kept token of its own is dropped).
    public mutating func claim(by agentID: String, tokenHash: String, at now: Timestamp, leaseUntil: Timestamp) {
        status = .running
        if startedAt == nil { startedAt = now }
        updatedAt = now
        self.agentID = agentID
        claimedAt = now
        attempts += 1
        leaseExpiresAt = leaseUntil
        jobTokenHash = tokenHash
        jobToken = nil
    }

    /// The job back in the queue at `now`: pending, held by no agent, without a token.
    public mutating func release(at now: Timestamp) {
        status = .pending
        updatedAt = now
        agentID = nil
        claimedAt = nil
        leaseExpiresAt = nil
        jobTokenHash = nil
        jobToken = nil
    }

    /// The job as the loss of its agent at `now` leaves it: back in the queue, or, once `maxAttempts` agents have
    /// been lost, failed with `agent lost` (its token kept, so that its writes are told the job ended). Returns
    /// whether it failed.
    public mutating func loseAgent(at now: Timestamp, maxAttempts: Int) -> Bool {
        guard attempts >= Int64(maxAttempts) else {
            release(at: now)
            return false
        }
        status = .failed
        errorMessage = LostAgent.failureMessage
        updatedAt = now
        completedAt = now
        leaseExpiresAt = nil
        return true
    }
}
