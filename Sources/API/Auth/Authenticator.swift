public import Domain
import Essentials
public import HTTPCore

/// Turns a request's credential headers into a `Principal`, exactly as the
/// contract orders them: `X-API-Key`, then `X-Workspace-API-Key`, then
/// `Authorization: Bearer` (an API key when it starts with `wak_`, else a session token).
public struct Authenticator: Sendable {
    public let keys: any APIKeyStore
    public let jobs: any TrainingJobStore
    public let sessionTokens: SessionTokenVerifier
    /// Where tokens that a claim or a lost agent replaced are found, and held jobs' leases renewed.
    public let agents: (any TrainingAgentStore)?
    public let lease: AgentLeaseTerms

    public init(
        keys: any APIKeyStore, jobs: any TrainingJobStore, sessionTokens: SessionTokenVerifier, agents: (any TrainingAgentStore)? = nil,
        lease: AgentLeaseTerms = AgentLeaseTerms()
    ) {
        self.keys = keys
        self.jobs = jobs
        self.sessionTokens = sessionTokens
        self.agents = agents
        self.lease = lease
    }

    public func authenticate(_ headers: HeaderFields, now: Double) throws -> Principal {
        if let key = headers["x-api-key"] ?? headers["x-workspace-api-key"] {
            return try apiKey(key)
        }
        guard let authorization = headers["authorization"] else { throw APIError.missingAuthorization }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError.unauthorized }
        let credential = String(parts[1]).trimmingWhitespace()
        if credential.hasPrefix(APIKeyFormat.prefix) { return try apiKey(credential) }
        if JobToken.isWellFormed(credential) { return try jobToken(credential, now: now) }
        if let userID = sessionTokens.userID(fromToken: credential, now: now) { return Principal(userID: userID, credential: .session) }
        // A token that a FineTune Lab trainer chose itself when it registered its job: not ours to recognise by shape.
        if JobToken.isAcceptableCallerToken(credential) { return try jobToken(credential, now: now) }
        throw APIError.unauthorized
    }

    /// The job whose token `token` is. A token that a claim or a lost agent replaced is a 409 `JOB_REASSIGNED`. A use of
    /// the token of a job an agent holds is a sign of the agent's life: it renews the lease.
    private func jobToken(_ token: String, now: Double) throws -> Principal {
        let hash = JobToken.hash(token)
        guard let job = try jobs.find(tokenHash: hash), let stored = job.jobTokenHash, constantTimeEquals(stored, hash) else {
            if try agents?.jobOfRetiredToken(hash) != nil { throw APIError.jobReassigned }
            throw APIError.unauthorized
        }
        let now = Timestamp(secondsSinceEpoch: now)
        if let agents, let expiry = job.leaseExpiresAt, lease.needsRenewal(expiry, at: now) {
            try agents.renewLease(jobID: job.id, tokenHash: hash, until: lease.lease(from: now))
        }
        return Principal(userID: job.userID, credential: .jobToken(jobID: job.id, tokenHash: hash))
    }

    private func apiKey(_ key: String) throws -> Principal {
        let key = key.trimmingWhitespace()
        guard APIKeyFormat.isWellFormed(key) else { throw APIError.unauthorized }
        let hash = APIKeyFormat.hash(key)
        // Looked up by its unique hash; compared again in constant time so the
        // check never depends on how much of a guess matched.
        guard let found = try keys.credential(keyHash: hash), !found.isRevoked, constantTimeEquals(found.keyHash, hash)
        else { throw APIError.unauthorized }
        return Principal(userID: found.userID, credential: .apiKey(id: found.id, scopes: found.scopes))
    }
}
