public import FastCGI
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// A fixed-window request budget per API key, shared by every worker
/// process of the pool through `SharedMemory`.
///
/// The region is split into shards, each a process-shared robust mutex and
/// a small open-addressed table of (key, window start, count) slots. A worker
/// that dies holding a shard's mutex leaves it recoverable (`EOWNERDEAD`).
public final class RateLimiter: @unchecked Sendable {
    // @unchecked: all mutable state lives in the shared region and is only
    // touched with the owning shard's process-shared mutex held.

    /// The outcome for one request.
    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        public var limit: Int
        public var remaining: Int
        /// When the window ends, in whole seconds since the epoch.
        public var resetEpochSeconds: Int64
        /// Seconds to wait before the next request can pass (≥ 1 when refused).
        public var retryAfterSeconds: Int64

        public var headers: [(name: String, value: String)] {
            var headers = [
                ("X-RateLimit-Limit", String(limit)), ("X-RateLimit-Remaining", String(remaining)),
                ("X-RateLimit-Reset", String(resetEpochSeconds)),
            ]
            if !allowed { headers.append(("Retry-After", String(retryAfterSeconds))) }
            return headers
        }
    }

    private struct Slot {
        var keyHash: UInt64
        var windowStartMilliseconds: Int64
        var count: Int64
    }

    public static let shardCount = 64
    public static let slotsPerShard = 512
    private static let probeLength = 16
    private static let mutexStride = 64
    private static let headerBytes = 64
    private static let magic: UInt64 = 0x6674_6170_6972_6c31  // "ftapirl1"

    /// Bytes of shared memory the limiter needs.
    public static var regionSize: Int {
        headerBytes + shardCount * mutexStride + shardCount * slotsPerShard * MemoryLayout<Slot>.stride
    }

    public let limit: Int
    public let windowMilliseconds: Int64
    private let region: SharedMemory

    /// Prepares a zeroed region: writes the header and initialises the mutexes. Done once, by the master.
    public static func initialize(_ region: SharedMemory) {
        precondition(region.size >= regionSize, "shared memory region too small for the rate limiter")
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_setpshared(&attributes, Int32(PTHREAD_PROCESS_SHARED))
        pthread_mutexattr_setrobust(&attributes, Int32(PTHREAD_MUTEX_ROBUST))
        for shard in 0..<shardCount {
            pthread_mutex_init(mutex(in: region, shard: shard), &attributes)
        }
        pthread_mutexattr_destroy(&attributes)
        region.base.storeBytes(of: magic, as: UInt64.self)
    }

    /// - Parameters:
    ///   - limit: requests per window; 0 disables limiting.
    public init(region: SharedMemory, limit: Int, windowSeconds: Int) {
        precondition(region.base.load(as: UInt64.self) == Self.magic, "rate limiter region not initialised")
        self.region = region
        self.limit = limit
        self.windowMilliseconds = Int64(max(1, windowSeconds)) * 1000
    }

    public var isEnabled: Bool { limit > 0 }

    private static func mutex(in region: SharedMemory, shard: Int) -> UnsafeMutablePointer<pthread_mutex_t> {
        (region.base + headerBytes + shard * mutexStride).assumingMemoryBound(to: pthread_mutex_t.self)
    }

    private func slots(shard: Int) -> UnsafeMutablePointer<Slot> {
        let offset = Self.headerBytes + Self.shardCount * Self.mutexStride + shard * Self.slotsPerShard * MemoryLayout<Slot>.stride
        return (region.base + offset).assumingMemoryBound(to: Slot.self)
    }

    /// Milliseconds on CLOCK_MONOTONIC: the same clock in every process of
    /// the machine, and never stepped back by NTP the way the wall clock can be.
    public static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// Counts one request for `keyID` at `nowMilliseconds` (`monotonicMilliseconds()`) and says whether it may pass.
    public func check(keyID: String, nowMilliseconds: Int64) -> Decision {
        let hash = Self.hash(keyID)
        let shard = Int(hash % UInt64(Self.shardCount))
        let start = Int((hash / UInt64(Self.shardCount)) % UInt64(Self.slotsPerShard))
        let mutex = Self.mutex(in: region, shard: shard)
        if pthread_mutex_lock(mutex) == EOWNERDEAD {
            // A worker died inside this critical section; the slots hold plain
            // counters, so the worst case is one miscounted request.
            pthread_mutex_consistent(mutex)
        }
        defer { pthread_mutex_unlock(mutex) }

        let table = slots(shard: shard)
        var chosen: Int?
        var reusable: Int?
        var oldest: Int = start
        for probe in 0..<Self.probeLength {
            let index = (start + probe) % Self.slotsPerShard
            let slot = table[index]
            if slot.keyHash == hash {
                chosen = index
                break
            }
            let expired = slot.keyHash == 0 || nowMilliseconds - slot.windowStartMilliseconds >= windowMilliseconds
                || slot.windowStartMilliseconds > nowMilliseconds
            if expired && reusable == nil { reusable = index }
            if slot.windowStartMilliseconds < table[oldest].windowStartMilliseconds { oldest = index }
        }
        // A full neighbourhood evicts the oldest window: that key starts afresh.
        let index = chosen ?? reusable ?? oldest
        if table[index].keyHash != hash || nowMilliseconds - table[index].windowStartMilliseconds >= windowMilliseconds
            || table[index].windowStartMilliseconds > nowMilliseconds
        {
            table[index] = Slot(keyHash: hash, windowStartMilliseconds: nowMilliseconds, count: 0)
        }
        let windowEnd = table[index].windowStartMilliseconds + windowMilliseconds
        let allowed = table[index].count < Int64(limit)
        if allowed { table[index].count += 1 }
        let wallNow = Timestamp.now().millisecondsSinceEpoch
        return Decision(
            allowed: allowed,
            limit: limit,
            remaining: max(0, limit - Int(table[index].count)),
            resetEpochSeconds: (wallNow + windowEnd - nowMilliseconds + 999) / 1000,
            retryAfterSeconds: max(1, (windowEnd - nowMilliseconds + 999) / 1000)
        )
    }

    /// FNV-1a, never 0 (0 marks an empty slot).
    private static func hash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash == 0 ? 1 : hash
    }
}
