#if canImport(Glibc)
public import Glibc
#endif

/// The two clocks the product reads: one place, so every layer measures time the same way.
public enum Clocks {
    /// Monotonic seconds (CLOCK_MONOTONIC), for deadlines and durations: never stepped back by NTP,
    /// and the same clock in every process of the machine.
    @inlinable
    public static func monotonicSeconds() -> Double {
        let now = read(CLOCK_MONOTONIC)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Monotonic milliseconds, for windows kept in shared memory.
    @inlinable
    public static func monotonicMilliseconds() -> Int64 {
        let now = read(CLOCK_MONOTONIC)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// Wall-clock seconds since the Unix epoch (token expiry, log timestamps).
    @inlinable
    public static func wallSeconds() -> Double {
        let now = read(CLOCK_REALTIME)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Wall-clock milliseconds since the Unix epoch (stored timestamps).
    @inlinable
    public static func wallMilliseconds() -> Int64 {
        let now = read(CLOCK_REALTIME)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// Sleeps for `seconds` (fractions allowed), resuming after signals.
    public static func sleep(seconds: Double) {
        var request = timespec(seconds: seconds)
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR {
            request = remaining
        }
    }

    @usableFromInline
    static func read(_ clock: clockid_t) -> timespec {
        var now = timespec()
        clock_gettime(clock, &now)
        return now
    }
}

extension timespec {
    /// A relative time of `seconds` (fractions allowed, negative taken as 0).
    public init(seconds: Double) {
        let clamped = max(0, seconds)
        self.init(tv_sec: Int(clamped), tv_nsec: Int((clamped - Double(Int(clamped))) * 1e9))
    }
}
