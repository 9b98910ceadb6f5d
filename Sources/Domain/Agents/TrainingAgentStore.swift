/// Training agents, and the claims and leases by which they hold a user's queued jobs. Every change here is
/// one transaction that first locks the job rows it changes, so claims, sweeps and trainers' writes to one job,
/// from any worker or host, go one after the other.
public protocol TrainingAgentStore: Sendable {
    /// In one transaction: records `agent`'s poll by `userID` at `now` (registering it on its first), renews to
    /// `leaseUntil` the leases of the jobs it holds that lapse before `renewingBefore`, and reads the user's oldest
    /// queued job and the jobs the agent holds that were cancelled after `cancelledSince`.
    func poll(
        userID: String, agent: AgentSighting, now: Timestamp, leaseUntil: Timestamp, renewingBefore: Timestamp, cancelledSince: Timestamp
    ) throws -> AgentPoll
    /// Makes the user's queued job `jobID` the agent's: running, `started_at` set on its first start, claimed at
    /// `now` with a lease to `leaseUntil`, one more attempt, and `tokenHash` its only token (the earlier one
    /// retired); registers the agent if no poll has. Of concurrent claims of one job exactly one is `.claimed`.
    func claim(jobID: String, userID: String, agentID: String, tokenHash: String, now: Timestamp, leaseUntil: Timestamp) throws -> ClaimOutcome
    /// Extends to `until` the lease of job `jobID` if an agent holds it and `tokenHash` is still its token.
    func renewLease(jobID: String, tokenHash: String, until: Timestamp) throws
    /// Puts back in the queue (or fails, at their `maxAttempts`-th lost agent) at most `limit` jobs whose lease
    /// lapsed before `now`, each with `logLine` appended to its log; retires their tokens. Returns them. Several
    /// sweepers at once are safe: a job is swept once (and on PostgreSQL a sweep finding another under way returns
    /// at once).
    func sweepLapsedLeases(
        now: Timestamp, maxAttempts: Int, limit: Int, logLine: (LostAgent) -> String
    ) throws -> [LostAgent]
    /// The user's agents, first registered first, each with the jobs it holds.
    func agents(userID: String) throws -> [TrainingAgent]
    /// The user's agent `id`, with the jobs it holds.
    func agent(id: String, userID: String) throws -> TrainingAgent?
    /// The user's jobs that `agentID` holds or held last, newest claim first.
    func jobs(heldBy agentID: String, userID: String, limit: Int) throws -> [TrainingJob]
    /// Deletes the user's agent `id` and puts the jobs it holds that have not ended back in the queue (their tokens
    /// retired, `releasedLine` appended to their logs). False when there is no such agent.
    func delete(agentID: String, userID: String, now: Timestamp, releasedLine: String) throws -> Bool
    /// The job whose token hashed to `tokenHash` before a claim or a lost agent retired it.
    func jobOfRetiredToken(_ tokenHash: String) throws -> String?
}
