import Essentials
import Synchronization

/// Request ids: the caller's `X-Request-Id` when it is short and plain, else a new one.
enum RequestID {
    private static let prefix = UInt32.random(in: 0...UInt32.max)
    private static let counter = Atomic<UInt64>(0)

    /// The caller's id when it is 1–64 characters of `[A-Za-z0-9_-]`, else 8 hex digits
    /// random per process, then 8 of a counter (unique per worker life, without a syscall per request).
    static func make(from incoming: String?) -> String {
        if let incoming, (1...64).contains(incoming.utf8.count),
            incoming.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 })
        {
            return incoming
        }
        let count = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return Hex.encode(UInt64(prefix) << 32 | (count & 0xFFFF_FFFF), digits: 16)
    }
}
