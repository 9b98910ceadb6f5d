/// A training agent as its user's polls have shown it: a machine that takes the user's queued jobs.
public struct TrainingAgent: Sendable, Equatable {
    public var userID: String
    /// `agent_` and 4 to 94 characters of `[A-Za-z0-9_-]`, unique per user (two users may use the same one).
    public var id: String
    public var hostname: String?
    public var platform: String?
    public var version: String?
    public var registeredAt: Timestamp
    public var lastPollAt: Timestamp
    /// The jobs it holds that have not ended, oldest claim first.
    public var heldJobIDs: [String]

    public init(
        userID: String, id: String, hostname: String? = nil, platform: String? = nil, version: String? = nil, registeredAt: Timestamp,
        lastPollAt: Timestamp, heldJobIDs: [String] = []
    ) {
        self.userID = userID
        self.id = id
        self.hostname = hostname
        self.platform = platform
        self.version = version
        self.registeredAt = registeredAt
        self.lastPollAt = lastPollAt
        self.heldJobIDs = heldJobIDs
    }

    /// Whether `id` is a well-formed agent id.
    public static func isValidID(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard id.hasPrefix("agent_"), (10...100).contains(utf8.count) else { return false }
        return utf8.dropFirst(6).allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }
}

/// What a poll tells about its agent: its id and the optional headers it sent.
public struct AgentSighting: Sendable, Equatable {
    public var id: String
    public var hostname: String?
    public var platform: String?
    public var version: String?

    public init(id: String, hostname: String? = nil, platform: String? = nil, version: String? = nil) {
        self.id = id
        self.hostname = hostname
        self.platform = platform
        self.version = version
    }
}

/// How long an agent holds a job without showing life, and how many lost agents a job survives.
public struct AgentLeaseTerms: Sendable, Equatable {
    public var leaseSeconds: Double
    public var maxAttempts: Int

    public init(leaseSeconds: Double = 300, maxAttempts: Int = 3) {
        self.leaseSeconds = leaseSeconds
        self.maxAttempts = maxAttempts
    }

    /// When a lease renewed at `now` lapses.
    public func lease(from now: Timestamp) -> Timestamp { now.adding(seconds: leaseSeconds) }

    /// A lease renewed at `now` is rewritten only if it lapses before this: once a tenth of it (at most 10 s) has
    /// passed, so that a trainer's every write or an agent's every poll does not also rewrite its job's row.
    public func renewalThreshold(at now: Timestamp) -> Timestamp {
        lease(from: now).adding(seconds: -min(leaseSeconds / 10, 10))
    }

    /// Whether a lease that lapses at `expiry` is worth renewing at `now` (`renewalThreshold`).
    public func needsRenewal(_ expiry: Timestamp, at now: Timestamp) -> Bool {
        expiry < renewalThreshold(at: now)
    }

    /// How often the pool looks for lapsed leases: a tenth of the lease, between 0.5 and 10 seconds.
    public var sweepInterval: Double { min(10, max(0.5, leaseSeconds / 10)) }
}

/// What one poll answers.
public struct AgentPoll: Sendable, Equatable {
    /// The user's oldest queued job, if any.
    public var job: TrainingJob?
    /// Jobs the agent holds that were cancelled since it claimed them.
    public var cancelled: [String]

    public init(job: TrainingJob?, cancelled: [String]) {
        self.job = job
        self.cancelled = cancelled
    }
}

/// How a claim ended.
public enum ClaimOutcome: Sendable, Equatable {
    /// The job is the agent's now, as stored.
    case claimed(TrainingJob)
    /// No such job of the user.
    case notFound
    /// Another agent holds it, or is claiming it at this moment.
    case alreadyClaimed
    /// It is not pending.
    case invalidStatus(JobStatus)
}

/// A job whose agent was lost (its lease lapsed), as the sweep left it.
public struct LostAgent: Sendable, Equatable {
    public var jobID: String
    public var userID: String
    public var agentID: String
    /// The claim that was lost: 1 for the first.
    public var attempt: Int64
    /// Whether the job failed (`agent lost`) rather than going back to the queue.
    public var failed: Bool

    public init(jobID: String, userID: String, agentID: String, attempt: Int64, failed: Bool) {
        self.jobID = jobID
        self.userID = userID
        self.agentID = agentID
        self.attempt = attempt
        self.failed = failed
    }

    /// The error message of a job failed for its lost agents.
    public static let failureMessage = "agent lost"

    /// The line the job's log gets, in the trainers' own log format (so `errors` reads it as a warning or an error).
    public func logLine(at now: Timestamp, terms: AgentLeaseTerms) -> String {
        let outcome = failed ? "the job failed (\(Self.failureMessage))" : "the job is back in the queue"
        let level = failed ? "ERROR" : "WARNING"
        let seconds = terms.leaseSeconds.rounded() == terms.leaseSeconds ? "\(Int(terms.leaseSeconds))" : "\(terms.leaseSeconds)"
        return "[\(now.logTime)] [ftapi] [\(level)] [agent] Agent \(agentID) lost: no poll or write for \(seconds) s; "
            + "attempt \(attempt) of \(terms.maxAttempts), \(outcome)"
    }

    /// The line the job's log gets when its agent is deleted while holding it.
    public static func releasedLine(agentID: String, at now: Timestamp) -> String {
        "[\(now.logTime)] [ftapi] [WARNING] [agent] Agent \(agentID) deleted; the job is back in the queue"
    }
}

extension Timestamp {
    /// `YYYY-MM-DD HH:MM:SS` in UTC, as trainers stamp their log lines.
    fileprivate var logTime: String {
        let iso = iso8601
        return String(iso.prefix(10)) + " " + String(iso.dropFirst(11).prefix(8))
    }
}
