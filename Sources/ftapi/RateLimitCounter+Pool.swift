public import API
public import Pool

/// The pool's shared-memory table is the rate limiter's counter: one budget per key across every worker process.
extension SharedRateLimitTable: RateLimitCounter {}
