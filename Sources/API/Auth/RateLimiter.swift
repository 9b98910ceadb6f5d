import Domain
import Essentials

/// Where the request counts of each key's current window live. The pool keeps
/// them in shared memory so that every worker process counts against one budget;
/// the application sees only this protocol.
public protocol RateLimitCounter: Sendable {
    /// Counts one request for `key` at `nowMilliseconds` (a monotonic clock) in a window of
    /// `windowMilliseconds`, unless `limit` requests were already counted in it. Returns
    /// whether it was counted, the window's count after it, and when the window ends.
    func count(key: String, limit: Int, windowMilliseconds: Int64, nowMilliseconds: Int64)
        -> (allowed: Bool, count: Int, windowEndMilliseconds: Int64)
}

/// A fixed-window request budget per API key: `limit` requests per window.
public struct RateLimiter: Sendable {
    /// The outcome for one request.
    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        public var limit: Int
        public var remaining: Int
        /// When the window ends, in whole seconds since the epoch.
        public var resetEpochSeconds: Int64
        /// Seconds to wait before the next request can pass (≥ 1 when refused).
        public var retryAfterSeconds: Int64

        /// `X-RateLimit-*`, and `Retry-After` when refused.
        public var headers: [(name: String, value: String)] {
            // Labelled like the result: an unlabelled array literal would be converted element by element.
            var headers: [(name: String, value: String)] = [
                ("X-RateLimit-Limit", String(limit)), ("X-RateLimit-Remaining", String(remaining)),
                ("X-RateLimit-Reset", String(resetEpochSeconds)),
            ]
            if !allowed { headers.append(("Retry-After", String(retryAfterSeconds))) }
            return headers
        }
    }

    public let limit: Int
    public let windowMilliseconds: Int64
    private let counter: any RateLimitCounter

    /// - Parameters:
    ///   - limit: requests per window; 0 disables limiting.
    public init(counter: any RateLimitCounter, limit: Int, windowSeconds: Int) {
        self.counter = counter
        self.limit = limit
        self.windowMilliseconds = Int64(max(1, windowSeconds)) * 1000
    }

    public var isEnabled: Bool { limit > 0 }

    /// Counts one request for `keyID` now and says whether it may pass.
    public func check(keyID: String) -> Decision {
        check(keyID: keyID, nowMilliseconds: Clocks.monotonicMilliseconds())
    }

    /// Counts one request for `keyID` at `nowMilliseconds` (on `Clocks.monotonicMilliseconds()`) and says whether it may pass.
    public func check(keyID: String, nowMilliseconds: Int64) -> Decision {
        let window = counter.count(key: keyID, limit: limit, windowMilliseconds: windowMilliseconds, nowMilliseconds: nowMilliseconds)
        let left = window.windowEndMilliseconds - nowMilliseconds
        return Decision(
            allowed: window.allowed,
            limit: limit,
            remaining: max(0, limit - window.count),
            resetEpochSeconds: (Timestamp.now().millisecondsSinceEpoch + left + 999) / 1000,
            retryAfterSeconds: max(1, (left + 999) / 1000)
        )
    }
}
