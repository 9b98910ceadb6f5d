import Domain

extension APIError {
    /// The answer to a store error that is the database's state, not a bug: 503 with
    /// `Retry-After`, so clients and nginx retry later. Nil for every other store error.
    init?(_ error: StoreError) {
        switch error {
        case .unavailable:
            self = APIError(.serviceUnavailable, "Database unavailable", details: "try again shortly", code: "DATABASE_UNAVAILABLE")
                .adding(header: "Retry-After", "1")
        case .busy:
            self = APIError(.serviceUnavailable, "Database busy", details: "every database connection is in use", code: "DATABASE_BUSY")
                .adding(header: "Retry-After", "1")
        case .timedOut:
            self = .requestTimedOut
        case .duplicate, .failed, .schemaTooNew, .missingReference:
            return nil
        }
    }
}

extension APIError {
    /// The 409 that names the job's current status.
    init(_ refusal: JobTransitionError) {
        self = APIError(
            .conflict, "Cannot change a \(refusal.current.rawValue) job to \(refusal.requested.rawValue)",
            details: "current status: \(refusal.current.rawValue)", code: "INVALID_STATUS_TRANSITION"
        )
    }
}
