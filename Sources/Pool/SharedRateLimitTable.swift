#if canImport(Glibc)
import Glibc
#endif

/// Fixed-window request counters per key, shared by every worker process of
/// the pool through `SharedMemory`: the table behind the application's rate limit.
///
/// The region is split into shards, each a process-shared robust mutex and
/// a small open-addressed table of (key, window start, count) slots. A worker
/// that dies holding a shard's mutex leaves it recoverable (`EOWNERDEAD`).
public final class SharedRateLimitTable: @unchecked Sendable {
    // @unchecked: all mutable state lives in the shared region and is only
    // touched with the owning shard's process-shared mutex held.

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

    /// Bytes of shared memory the table needs.
    public static var regionSize: Int {
        headerBytes + shardCount * mutexStride + shardCount * slotsPerShard * MemoryLayout<Slot>.stride
    }

    private let region: SharedMemory

    /// Prepares a zeroed region: writes the header and initialises the mutexes. Done once, by the master.
    public static func initialize(_ region: SharedMemory) {
        precondition(region.size >= regionSize, "shared memory region too small for the rate-limit table")
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

    /// The table in a region that `initialize` prepared (in this process or the master).
    public init(region: SharedMemory) {
        precondition(region.base.load(as: UInt64.self) == Self.magic, "rate-limit region not initialised")
        self.region = region
    }

    /// A table in a fresh region of this process alone (tests, single-process tools).
    public static func anonymous() throws -> SharedRateLimitTable {
        let region = try SharedMemory.anonymous(size: regionSize)
        initialize(region)
        return SharedRateLimitTable(region: region)
    }

    private static func mutex(in region: SharedMemory, shard: Int) -> UnsafeMutablePointer<pthread_mutex_t> {
        (region.base + headerBytes + shard * mutexStride).assumingMemoryBound(to: pthread_mutex_t.self)
    }

    private func slots(shard: Int) -> UnsafeMutablePointer<Slot> {
        let offset = Self.headerBytes + Self.shardCount * Self.mutexStride + shard * Self.slotsPerShard * MemoryLayout<Slot>.stride
        return (region.base + offset).assumingMemoryBound(to: Slot.self)
    }

    /// Counts one request for `key` at `nowMilliseconds` (a monotonic clock) in a
    /// window of `windowMilliseconds`, unless `limit` requests were already counted
    /// in it. Returns whether it was counted, the window's count after it, and when the window ends.
    public func count(
        key: String, limit: Int, windowMilliseconds: Int64, nowMilliseconds: Int64
    ) -> (allowed: Bool, count: Int, windowEndMilliseconds: Int64) {
        let hash = Self.hash(key)
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
        func expired(_ slot: Slot) -> Bool {
            nowMilliseconds - slot.windowStartMilliseconds >= windowMilliseconds || slot.windowStartMilliseconds > nowMilliseconds
        }
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
            if (slot.keyHash == 0 || expired(slot)) && reusable == nil { reusable = index }
            if slot.windowStartMilliseconds < table[oldest].windowStartMilliseconds { oldest = index }
        }
        // A full neighbourhood evicts the oldest window: that key starts afresh.
        let index = chosen ?? reusable ?? oldest
        if table[index].keyHash != hash || expired(table[index]) {
            table[index] = Slot(keyHash: hash, windowStartMilliseconds: nowMilliseconds, count: 0)
        }
        let allowed = table[index].count < Int64(limit)
        if allowed { table[index].count += 1 }
        return (allowed, Int(table[index].count), table[index].windowStartMilliseconds + windowMilliseconds)
    }

    /// FNV-1a, never 0 (0 marks an empty slot). Over the text's contiguous bytes: the UTF-8 view's
    /// iterator costs several times more per byte.
    private static func hash(_ text: String) -> UInt64 {
        func fnv(_ bytes: some Sequence<UInt8>) -> UInt64 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            return hash
        }
        let hash = text.utf8.withContiguousStorageIfAvailable(fnv) ?? fnv(text.utf8)
        return hash == 0 ? 1 : hash
    }
}
