#if canImport(Glibc)
import Glibc
#endif

/// Scopes are stored as a comma-separated list (`training,analytics`).
enum ScopeList {
    static func encode(_ scopes: [Scope]) -> String {
        scopes.map(\.rawValue).joined(separator: ",")
    }

    static func decode(_ text: String) -> [Scope] {
        text.split(separator: ",").compactMap { Scope(rawValue: $0.trimmingCharacters(in: " ")) }
    }
}

extension Substring {
    func trimmingCharacters(in characters: Character) -> String {
        String(drop { $0 == characters }.reversed().drop { $0 == characters }.reversed())
    }
}

/// Wall-clock milliseconds since the Unix epoch.
func wallClockMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

extension Timestamp {
    /// The current wall-clock time.
    public static func now() -> Timestamp {
        Timestamp(millisecondsSinceEpoch: wallClockMilliseconds())
    }
}
