#if canImport(Glibc)
import Glibc
#endif

/// Scopes are stored as a comma-separated list (`training,analytics`).
enum ScopeList {
    static func encode(_ scopes: [Scope]) -> String {
        scopes.map(\.rawValue).joined(separator: ",")
    }

    static func decode(_ text: String) -> [Scope] {
        text.utf8.split(separator: UInt8(ascii: ",")).compactMap { name in
            Scope(rawValue: String(decoding: name.filter { $0 != UInt8(ascii: " ") }, as: UTF8.self))
        }
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
