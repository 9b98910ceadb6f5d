import Domain
import Logging

/// Finds held jobs whose agent stopped showing life and puts them back in the queue (or fails them), in batches read
/// from the lease index: a sweep that finds nothing costs one indexed read, whatever the number of jobs.
struct LeaseSweeper: Sendable {
    let agents: any TrainingAgentStore
    let terms: AgentLeaseTerms
    let logger: Logger

    private static let batch = 100

    /// Sweeps every lease lapsed by now; logs one line per lost agent, and the store's failure if it fails.
    func sweep() {
        do {
            var swept = Self.batch
            while swept == Self.batch {
                let now = Timestamp.now()
                let lost = try agents.sweepLapsedLeases(now: now, maxAttempts: terms.maxAttempts, limit: Self.batch) { lost in
                    lost.logLine(at: now, terms: terms)
                }
                for agent in lost {
                    logger.warning(
                        agent.failed ? "training agent lost; job failed (agent lost)" : "training agent lost; job back in the queue",
                        metadata: [
                            "job.id": "\(agent.jobID)", "user.id": "\(agent.userID)", "agent.id": "\(agent.agentID)",
                            "job.attempt": "\(agent.attempt)", "job.max_attempts": "\(terms.maxAttempts)",
                        ])
                }
                swept = lost.count
            }
        } catch {
            logger.error("the lease sweep failed; it runs again at its next interval", metadata: ["error": "\(error)"])
        }
    }
}
