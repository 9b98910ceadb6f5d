import Domain
public import HTTPCore

/// Decides whether a request may reach its route, in the contract's order:
/// credential → principal → rate limit (API keys) → scope. Counts API-key usage.
public struct AuthGate: Sendable {
    /// A request let through: who sent it and the rate-limit headers its response carries.
    public struct Admission: Sendable {
        public var principal: Principal?
        public var headers: [(name: String, value: String)]
    }

    /// A request turned away: the error to answer with (it carries the rate-limit
    /// headers) and, when the credential was good, who sent it (for the access log).
    public struct Refusal: Error {
        public var error: any Error
        public var principal: Principal?
    }

    private static let sessionOnly = APIError(
        .forbidden, "Insufficient scope", details: "API keys are managed with a session token", code: "INSUFFICIENT_SCOPE")

    let authenticator: Authenticator
    let rateLimiter: RateLimiter?
    let usage: UsageRecorder

    public init(authenticator: Authenticator, rateLimiter: RateLimiter?, usage: UsageRecorder) {
        self.authenticator = authenticator
        self.rateLimiter = rateLimiter?.isEnabled == true ? rateLimiter : nil
        self.usage = usage
    }

    /// Admits a request with `headers` to a route that demands `requirement`, whose
    /// path parameters are `parameters`; throws a `Refusal` otherwise.
    public func admit(
        _ headers: HeaderFields, to requirement: AuthRequirement, parameters: [String: String], now: Double
    ) throws(Refusal) -> Admission {
        guard requirement != .none else { return Admission(principal: nil, headers: []) }
        let caller: Principal
        do {
            caller = try authenticator.authenticate(headers, now: now)
        } catch {
            throw Refusal(error: error, principal: nil)
        }
        var rateHeaders: [(name: String, value: String)] = []
        func refuse(_ error: APIError) -> Refusal {
            Refusal(error: error.withHeaders(rateHeaders), principal: caller)
        }
        // A credential of the wrong kind for a session-only route is refused before it is counted: a key's budget
        // (and its usage figures) are spent only on routes a key may use.
        if case .apiKey(let keyID, _) = caller.credential {
            if requirement == .session { throw refuse(Self.sessionOnly) }
            if let rateLimiter {
                let decision = rateLimiter.check(keyID: keyID)
                rateHeaders = decision.headers
                guard decision.allowed else {
                    throw refuse(
                        APIError(
                            .tooManyRequests, "Rate limit exceeded", details: "at most \(decision.limit) requests per window", code: "RATE_LIMITED")
                    )
                }
            }
            usage.record(keyID: keyID, at: .now())
        }
        switch (requirement, caller.credential) {
        case (.trainer, .jobToken(let jobID, _)):
            // A job token is good for its own job's trainer routes only.
            guard parameters["id"] == jobID else { throw refuse(.unauthorized) }
        case (.namedJobTrainer, .jobToken):
            // The job is named by a path segment or the body, which only the handler reads: it checks.
            break
        case (_, .jobToken):
            throw refuse(.unauthorized)
        case (.scope(let scope), _):
            guard caller.allows(scope) else { throw refuse(.insufficientScope) }
        case (.trainer, _), (.namedJobTrainer, _):
            guard caller.allows(.training) else { throw refuse(.insufficientScope) }
        case (.session, _):
            break
        case (.none, _):
            break
        }
        return Admission(principal: caller, headers: rateHeaders)
    }
}
