import Domain

/// The job columns a claim, a lost agent or a deleted agent change: the job's status and its hold.
private let holdColumns: [JobColumn] = [
    .status, .startedAt, .updatedAt, .completedAt, .errorMessage, .agentID, .claimedAt, .attempts, .leaseExpiresAt, .jobTokenHash, .jobToken,
]

/// Training agents and their holds on jobs. A job is held while `lease_expires_at` is set (an agent claimed it and
/// it has not ended), so the sweep and the agents' job lists read only partial indexes of the jobs in play.
final class SQLTrainingAgentStore<Database: SQLDatabase>: TrainingAgentStore {
    private let database: Database
    private let logs: SQLTrainingLogStore<Database>
    private let upsertAgent: String
    private let insertAgentIfNew: String
    /// The jobs an agent holds, and those it held that were cancelled lately: what a poll renews and reports.
    private let selectHeldAndCancelled: String
    private let renewHeld: String
    private let selectOldestQueued: String
    private let lockForClaim: String
    private let selectForClaim: String
    private let retireToken: String
    private let updateHold: String
    private let renewOne: String
    private let lockLapsed: String
    private let selectAgents: String
    private let selectAgent: String
    private let selectHeldIDs: String
    private let selectHeldIDsOfAgent: String
    private let selectJobsOfAgent: String
    private let deleteAgent: String
    private let lockHeldByAgent: String

    private static var selectRetired: String { "SELECT job_id FROM retired_job_tokens WHERE token_hash = $1" }
    /// The advisory lock that makes one sweep at a time per PostgreSQL database (any number, as long as it is ours).
    private static var sweepLockKey: Int64 { 0x6674_6170_6973_7765 }

    init(database: Database, logs: SQLTrainingLogStore<Database>) {
        self.database = database
        self.logs = logs
        let sql = database.dialect
        let jobs = "SELECT \(sql.selectList(JobColumn.self)) FROM training_jobs"
        let insertAgent = "INSERT INTO training_agents (\(sql.names(AgentColumn.self))) VALUES (\(sql.parameters(AgentColumn.self)))"
        upsertAgent = """
            \(insertAgent) ON CONFLICT (user_id, agent_id) DO UPDATE SET last_poll_at = excluded.last_poll_at,
                hostname = coalesce(excluded.hostname, training_agents.hostname),
                platform = coalesce(excluded.platform, training_agents.platform),
                version = coalesce(excluded.version, training_agents.version)
            """
        insertAgentIfNew = insertAgent + " ON CONFLICT (user_id, agent_id) DO NOTHING"
        // Two index reads (training_jobs_held, training_jobs_agent_cancelled), not one over every job the agent ever held.
        selectHeldAndCancelled = """
            SELECT id, status, \(sql.milliseconds("lease_expires_at")) AS lease FROM training_jobs
            WHERE user_id = $1 AND agent_id = $2 AND lease_expires_at IS NOT NULL
            UNION ALL
            SELECT id, status, CAST(NULL AS BIGINT) FROM training_jobs
            WHERE user_id = $1 AND agent_id = $2 AND status = 'cancelled' AND completed_at > \(sql.timestamp(3))
            ORDER BY 1
            """
        renewHeld = "UPDATE training_jobs SET lease_expires_at = \(sql.timestamp(3)) WHERE id = $1 AND agent_id = $2 AND lease_expires_at IS NOT NULL"
        selectOldestQueued = "\(jobs) WHERE user_id = $1 AND status = 'pending' AND agent_id IS NULL ORDER BY created_at, id LIMIT 1"
        lockForClaim = "\(jobs) WHERE id = $1 AND user_id = $2" + sql.forUpdateSkipLocked
        selectForClaim = "\(jobs) WHERE id = $1 AND user_id = $2"
        retireToken = """
            INSERT INTO retired_job_tokens (token_hash, job_id, retired_at) VALUES ($1, $2, \(sql.timestamp(3)))
            ON CONFLICT (token_hash) DO NOTHING
            """
        updateHold = "UPDATE training_jobs SET \(sql.assignments(holdColumns, from: 1)) WHERE id = $\(holdColumns.count + 1)"
        renewOne = """
            UPDATE training_jobs SET lease_expires_at = \(sql.timestamp(3)) WHERE id = $1 AND job_token_hash = $2 AND lease_expires_at IS NOT NULL
            """
        lockLapsed = "\(jobs) WHERE lease_expires_at < \(sql.timestamp(1)) ORDER BY lease_expires_at LIMIT $2" + sql.forUpdateSkipLocked
        selectAgents = "SELECT \(sql.selectList(AgentColumn.self)) FROM training_agents WHERE user_id = $1 ORDER BY registered_at, agent_id"
        selectAgent = "SELECT \(sql.selectList(AgentColumn.self)) FROM training_agents WHERE user_id = $1 AND agent_id = $2"
        selectHeldIDs = """
            SELECT agent_id, id FROM training_jobs WHERE user_id = $1 AND agent_id IS NOT NULL AND lease_expires_at IS NOT NULL
            ORDER BY claimed_at, id
            """
        selectHeldIDsOfAgent = """
            SELECT id FROM training_jobs WHERE user_id = $1 AND agent_id = $2 AND lease_expires_at IS NOT NULL ORDER BY claimed_at, id
            """
        selectJobsOfAgent = "\(jobs) WHERE user_id = $1 AND agent_id = $2 ORDER BY claimed_at DESC, id DESC LIMIT $3"
        deleteAgent = "DELETE FROM training_agents WHERE user_id = $1 AND agent_id = $2"
        lockHeldByAgent = "\(jobs) WHERE user_id = $1 AND agent_id = $2 AND lease_expires_at IS NOT NULL ORDER BY claimed_at, id" + sql.forUpdate
    }

    /// Writes `job`'s status and hold, retiring `retiredTokenHash` (its token before the change) at `now`.
    private func saveHold(_ job: TrainingJob, retiring retiredTokenHash: String?, at now: Timestamp, on connection: Database.Connection) throws {
        if let retiredTokenHash, retiredTokenHash != job.jobTokenHash {
            try connection.run(retireToken, [.text(retiredTokenHash), .text(job.id), now.sql])
        }
        try connection.run(updateHold, holdColumns.map { $0.value(of: job) } + [.text(job.id)])
    }

    func poll(
        userID: String, agent: AgentSighting, now: Timestamp, leaseUntil: Timestamp, renewingBefore: Timestamp, cancelledSince: Timestamp
    ) throws -> AgentPoll {
        let sighting = TrainingAgent(
            userID: userID, id: agent.id, hostname: agent.hostname, platform: agent.platform, version: agent.version, registeredAt: now,
            lastPollAt: now)
        return try database.write { connection in
            try connection.run(upsertAgent, AgentColumn.allCases.map { $0.value(of: sighting) })
            var cancelled: [String] = []
            var renewing: [String] = []
            try connection.query(selectHeldAndCancelled, [.text(userID), .text(agent.id), cancelledSince.sql]) { row in
                if let lease = row.optionalTimestamp(2) {
                    if lease < renewingBefore { renewing.append(row.string(0)) }
                } else if row.jobStatus(1) == .cancelled {
                    cancelled.append(row.string(0))
                }
            }
            for id in renewing { try connection.run(renewHeld, [.text(id), .text(agent.id), leaseUntil.sql]) }
            let job = try connection.first(selectOldestQueued, [.text(userID)], TrainingJob.init(row:))
            return AgentPoll(job: job, cancelled: cancelled)
        }
    }

    func claim(jobID: String, userID: String, agentID: String, tokenHash: String, now: Timestamp, leaseUntil: Timestamp) throws -> ClaimOutcome {
        guard database.dialect.canName(jobID) else { return .notFound }
        return try database.write { connection in
            let values: [SQLValue] = [.text(jobID), .text(userID)]
            guard let stored = try connection.first(lockForClaim, values, TrainingJob.init(row:)) else {
                // Not there, or locked by another transaction: on PostgreSQL, a claim under way (or another change) that
                // this one does not wait for.
                guard let seen = try connection.first(selectForClaim, values, TrainingJob.init(row:)) else { return .notFound }
                return seen.status == .pending || seen.isHeld ? .alreadyClaimed : .invalidStatus(seen.status)
            }
            guard !stored.isHeld else { return .alreadyClaimed }
            guard stored.status == .pending else { return .invalidStatus(stored.status) }
            var job = stored
            job.claim(by: agentID, tokenHash: tokenHash, at: now, leaseUntil: leaseUntil)
            try saveHold(job, retiring: stored.jobTokenHash, at: now, on: connection)
            // An agent that claims without having polled (a claim by id) is known from then on.
            let agent = TrainingAgent(userID: userID, id: agentID, registeredAt: now, lastPollAt: now)
            try connection.run(insertAgentIfNew, AgentColumn.allCases.map { $0.value(of: agent) })
            return .claimed(job)
        }
    }

    func renewLease(jobID: String, tokenHash: String, until: Timestamp) throws {
        guard database.dialect.canName(jobID) else { return }
        _ = try database.write { connection in
            try connection.run(renewOne, [.text(jobID), .text(tokenHash), until.sql])
        }
    }

    func sweepLapsedLeases(now: Timestamp, maxAttempts: Int, limit: Int, logLine: (LostAgent) -> String) throws -> [LostAgent] {
        try database.write { connection in
            if let lock = database.dialect.tryTransactionLock(Self.sweepLockKey), try connection.first(lock, [], { $0.bool(0) }) != true {
                return []
            }
            var lapsed: [TrainingJob] = []
            try connection.query(lockLapsed, [now.sql, .integer(Int64(limit))]) { lapsed.append(TrainingJob(row: $0)) }
            var lost: [LostAgent] = []
            for stored in lapsed {
                guard let agentID = stored.agentID else { continue }
                var job = stored
                let failed = job.loseAgent(at: now, maxAttempts: maxAttempts)
                let outcome = LostAgent(jobID: job.id, userID: job.userID, agentID: agentID, attempt: stored.attempts, failed: failed)
                try saveHold(job, retiring: stored.jobTokenHash, at: now, on: connection)
                _ = try logs.append(jobID: job.id, lines: [logLine(outcome)], keep: JobLog.keptLines, on: connection)
                lost.append(outcome)
            }
            return lost
        }
    }

    func agents(userID: String) throws -> [TrainingAgent] {
        try database.snapshot { connection in
            var agents: [TrainingAgent] = []
            try connection.query(selectAgents, [.text(userID)]) { agents.append(TrainingAgent(row: $0)) }
            var held: [String: [String]] = [:]
            try connection.query(selectHeldIDs, [.text(userID)]) { held[$0.string(0), default: []].append($0.string(1)) }
            for index in agents.indices { agents[index].heldJobIDs = held[agents[index].id] ?? [] }
            return agents
        }
    }

    func agent(id: String, userID: String) throws -> TrainingAgent? {
        try database.snapshot { connection in
            guard var agent = try connection.first(selectAgent, [.text(userID), .text(id)], TrainingAgent.init(row:)) else { return nil }
            try connection.query(selectHeldIDsOfAgent, [.text(userID), .text(id)]) { agent.heldJobIDs.append($0.string(0)) }
            return agent
        }
    }

    func jobs(heldBy agentID: String, userID: String, limit: Int) throws -> [TrainingJob] {
        try database.read { connection in
            var jobs: [TrainingJob] = []
            try connection.query(selectJobsOfAgent, [.text(userID), .text(agentID), .integer(Int64(limit))]) { jobs.append(TrainingJob(row: $0)) }
            return jobs
        }
    }

    func delete(agentID: String, userID: String, now: Timestamp, releasedLine: String) throws -> Bool {
        try database.write { connection in
            guard try connection.run(deleteAgent, [.text(userID), .text(agentID)]) > 0 else { return false }
            var held: [TrainingJob] = []
            try connection.query(lockHeldByAgent, [.text(userID), .text(agentID)]) { held.append(TrainingJob(row: $0)) }
            for stored in held {
                var job = stored
                job.release(at: now)
                try saveHold(job, retiring: stored.jobTokenHash, at: now, on: connection)
                _ = try logs.append(jobID: job.id, lines: [releasedLine], keep: JobLog.keptLines, on: connection)
            }
            return true
        }
    }

    func jobOfRetiredToken(_ tokenHash: String) throws -> String? {
        try database.read { connection in
            try connection.first(Self.selectRetired, [.text(tokenHash)]) { $0.string(0) }
        }
    }
}

extension AgentColumn {
    func value(of agent: TrainingAgent) -> SQLValue {
        switch self {
        case .userID: .text(agent.userID)
        case .agentID: .text(agent.id)
        case .hostname: agent.hostname.sql
        case .platform: agent.platform.sql
        case .version: agent.version.sql
        case .registeredAt: agent.registeredAt.sql
        case .lastPollAt: agent.lastPollAt.sql
        }
    }
}
