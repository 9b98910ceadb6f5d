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

    public init(keys: any APIKeyStore, jobs: any TrainingJobStore, sessionTokens: SessionTokenVerifier) {
        self.keys = keys
        self.jobs = jobs
        self.sessionTokens = sessionTokens
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
        if JobToken.isWellFormed(credential) { return try jobToken(credential) }
        if let userID = sessionTokens.userID(fromToken: credential, now: now) { return Principal(userID: userID, credential: .session) }
        // A token that a FineTune Lab trainer chose itself when it registered its job: not ours to recognise by shape.
        if JobToken.isAcceptableCallerToken(credential) { return try jobToken(credential) }
        throw APIError.unauthorized
    }

    private func jobToken(_ token: String) throws -> Principal {
        let hash = JobToken.hash(token)
        guard let job = try jobs.find(tokenHash: hash), let stored = job.jobTokenHash, constantTimeEquals(stored, hash) else {
            throw APIError.unauthorized
        }
        return Principal(userID: job.userID, credential: .jobToken(jobID: job.id))
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
