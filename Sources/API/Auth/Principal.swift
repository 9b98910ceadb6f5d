public import Domain

/// Who made a request, once authenticated.
public struct Principal: Sendable, Equatable {
    public enum Credential: Sendable, Equatable {
        /// An API key with its id and granted scopes.
        case apiKey(id: String, scopes: [Scope])
        /// A session token (JWT): every scope.
        case session
        /// A training job's own token (its SHA-256 hash): only `trainer` routes of that one job.
        case jobToken(jobID: String, tokenHash: String)
    }

    public var userID: String
    public var credential: Credential

    public init(userID: String, credential: Credential) {
        self.userID = userID
        self.credential = credential
    }

    /// The hash of the job token the request came with; nil for other credentials.
    public var jobTokenHash: String? {
        if case .jobToken(_, let hash) = credential { return hash }
        return nil
    }

    /// Whether this principal may use routes that need `scope`.
    public func allows(_ scope: Scope) -> Bool {
        switch credential {
        case .session: true
        case .apiKey(_, let scopes): scopes.contains(.all) || scopes.contains(scope)
        case .jobToken: false
        }
    }
}
