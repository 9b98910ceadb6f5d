public import Domain

/// What a route demands of the caller.
public enum AuthRequirement: Sendable, Equatable {
    /// No credential needed.
    case none
    /// An API key with this scope, or a session token.
    case scope(Scope)
    /// A session token only (API keys can't manage API keys).
    case session
    /// What a training worker reports through: the job token of the job named
    /// by the route's `id` parameter, or anything `scope(.training)` accepts.
    case trainer
    /// What FineTune Lab's trainers report through: a job token, whatever job the route names (its
    /// handler resolves the `{job}` path segment or the body's `job_id` and answers 401 unless it is
    /// the token's job), or anything `scope(.training)` accepts.
    case namedJobTrainer
}
