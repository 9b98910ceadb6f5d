import Essentials
import Foundation
import Testing

@testable import Pool

#if canImport(Glibc)
import Glibc
#endif

/// The rate limit's fixed windows in shared memory: limits, windows, keys apart, eviction from a full neighbourhood,
/// exact counts from many threads, and a holder of a shard's lock that dies inside it.
@Suite("Shared rate-limit table")
struct SharedRateLimitTableTests {
    static let minute: Int64 = 60_000

    static func table() throws -> SharedRateLimitTable { try SharedRateLimitTable.anonymous() }

    @Test func aKeyIsCountedUpToItsLimitInAWindow() throws {
        let table = try Self.table()
        for (index, now) in [Int64(1_000), 1_001, 30_000].enumerated() {
            let counted = table.count(key: "key", limit: 3, windowMilliseconds: Self.minute, nowMilliseconds: now)
            #expect(counted.allowed && counted.count == index + 1 && counted.windowEndMilliseconds == 61_000)
        }
        let refused = table.count(key: "key", limit: 3, windowMilliseconds: Self.minute, nowMilliseconds: 60_999)
        #expect(!refused.allowed && refused.count == 3 && refused.windowEndMilliseconds == 61_000)
        // A refused request is not counted: the count stays at the limit.
        #expect(table.count(key: "key", limit: 3, windowMilliseconds: Self.minute, nowMilliseconds: 60_999).count == 3)
    }

    @Test func theWindowEndsAfterItsLengthAndTheNextStartsAfresh() throws {
        let table = try Self.table()
        _ = table.count(key: "key", limit: 1, windowMilliseconds: Self.minute, nowMilliseconds: 1_000)
        #expect(!table.count(key: "key", limit: 1, windowMilliseconds: Self.minute, nowMilliseconds: 60_999).allowed)
        let next = table.count(key: "key", limit: 1, windowMilliseconds: Self.minute, nowMilliseconds: 61_000)
        #expect(next.allowed && next.count == 1 && next.windowEndMilliseconds == 121_000)
    }

    /// A window that starts after now (a clock that went back, or a region kept across a reboot) is over.
    @Test func aWindowStartingAfterNowIsOver() throws {
        let table = try Self.table()
        _ = table.count(key: "key", limit: 1, windowMilliseconds: Self.minute, nowMilliseconds: 50_000)
        let earlier = table.count(key: "key", limit: 1, windowMilliseconds: Self.minute, nowMilliseconds: 20_000)
        #expect(earlier.allowed && earlier.windowEndMilliseconds == 80_000)
    }

    @Test func keysAreCountedApart() throws {
        let table = try Self.table()
        let keys = (0..<200).map { "key-\($0)" }
        for key in keys { #expect(table.count(key: key, limit: 1, windowMilliseconds: Self.minute, nowMilliseconds: 5).allowed, "\(key)") }
        for key in keys { #expect(!table.count(key: key, limit: 1, windowMilliseconds: Self.minute, nowMilliseconds: 6).allowed, "\(key)") }
    }

    @Test func aLimitOfZeroRefusesEveryRequest() throws {
        let counted = try Self.table().count(key: "key", limit: 0, windowMilliseconds: Self.minute, nowMilliseconds: 5)
        #expect(!counted.allowed && counted.count == 0)
    }

    /// Two tables on one region (two worker processes) count into the same windows.
    @Test func tablesOnOneRegionShareTheirCounts() throws {
        let region = try SharedMemory.anonymous(size: SharedRateLimitTable.regionSize)
        SharedRateLimitTable.initialize(region)
        let (one, two) = (SharedRateLimitTable(region: region), SharedRateLimitTable(region: region))
        #expect(one.count(key: "key", limit: 2, windowMilliseconds: Self.minute, nowMilliseconds: 1).count == 1)
        #expect(two.count(key: "key", limit: 2, windowMilliseconds: Self.minute, nowMilliseconds: 2).count == 2)
        #expect(!one.count(key: "key", limit: 2, windowMilliseconds: Self.minute, nowMilliseconds: 3).allowed)
    }

    @Test func countsFromManyThreadsAtOnceAreExact() throws {
        let table = try Self.table()
        let (threads, rounds, limit) = (8, 1_500, 10_000)
        let workers = (0..<threads).map { thread in
            Background {
                var allowed = 0
                var own = 0
                for _ in 0..<rounds {
                    if table.count(key: "shared", limit: limit, windowMilliseconds: Self.minute, nowMilliseconds: 10).allowed { allowed += 1 }
                    own = table.count(key: "own-\(thread)", limit: .max, windowMilliseconds: Self.minute, nowMilliseconds: 10).count
                }
                return (allowed, own)
            }
        }
        let results = workers.compactMap { $0.wait(seconds: 120) }
        #expect(results.count == threads)
        #expect(results.map(\.0).reduce(0, +) == limit, "exactly the limit allowed, whatever the interleaving")
        #expect(results.allSatisfy { $0.1 == rounds })
        #expect(table.count(key: "shared", limit: limit, windowMilliseconds: Self.minute, nowMilliseconds: 11).count == limit)
    }

    // MARK: Where keys go

    /// The table's FNV-1a hash of a key, and where it puts the key: its shard, and the slot its probe starts at.
    /// Repeated here to build a full neighbourhood on purpose; if the table hashes otherwise, the eviction test fails.
    static func place(_ key: String) -> (shard: Int, start: Int) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        if hash == 0 { hash = 1 }
        let shards = UInt64(SharedRateLimitTable.shardCount)
        return (Int(hash % shards), Int((hash / shards) % UInt64(SharedRateLimitTable.slotsPerShard)))
    }

    /// Keys whose probes start at slots `start`, `start` + 1, … `start` + 15 of one shard, and one more starting at `start`.
    static func fullNeighbourhood() -> (occupants: [String], newcomer: String)? {
        var byPlace: [Int: [String]] = [:]
        let slots = SharedRateLimitTable.slotsPerShard
        for index in 0..<100_000 {
            let key = "n\(index)"
            let (shard, start) = place(key)
            byPlace[shard * slots + start, default: []].append(key)
        }
        for shard in 0..<SharedRateLimitTable.shardCount {
            for start in 0..<slots {
                let keys = (0..<16).map { byPlace[shard * slots + (start + $0) % slots] ?? [] }
                guard keys.allSatisfy({ !$0.isEmpty }), keys[0].count >= 2 else { continue }
                return (keys.map { $0[0] }, keys[0][1])
            }
        }
        return nil
    }

    /// A probe looks at 16 slots; when all hold live windows of other keys, the oldest window is evicted: its key
    /// starts afresh, and the others keep their counts.
    @Test func aFullNeighbourhoodEvictsItsOldestWindow() throws {
        let (occupants, newcomer) = try #require(Self.fullNeighbourhood())
        let table = try Self.table()
        func count(_ key: String, at now: Int64) -> (allowed: Bool, count: Int, windowEndMilliseconds: Int64) {
            table.count(key: key, limit: 2, windowMilliseconds: Self.minute, nowMilliseconds: now)
        }
        // The oldest: at its limit.
        #expect(count(occupants[0], at: 100).allowed && count(occupants[0], at: 100).allowed)
        #expect(!count(occupants[0], at: 100).allowed)
        for (index, key) in occupants.enumerated().dropFirst() { #expect(count(key, at: 100 + Int64(index)).count == 1) }
        #expect(!count(occupants[0], at: 150).allowed, "still counted while the neighbourhood has room")

        #expect(count(newcomer, at: 200).count == 1, "the newcomer takes the oldest window's slot")
        let returning = count(occupants[0], at: 201)
        #expect(returning.allowed && returning.count == 1 && returning.windowEndMilliseconds == 201 + Self.minute, "evicted: starts afresh")
        // occupants[1], the oldest after it, made room for it; the others kept their counts.
        #expect(count(occupants[1], at: 202).count == 1)
        for key in occupants[2...] {
            #expect(count(key, at: 203).count == 2, "\(key)")
            #expect(!count(key, at: 203).allowed, "\(key)")
        }
    }

    // MARK: A holder that dies

    /// A worker that dies holding a shard's lock (SIGKILL in the middle of a count) must not stop the others'
    /// counts: the locks are robust, and the next holder makes them consistent again. The dead holder here is a
    /// child process that takes every shard's lock and exits.
    @Test func aProcessThatDiesHoldingTheLocksLeavesThemUsable() throws {
        let region = try SharedMemory.anonymous(size: SharedRateLimitTable.regionSize)
        SharedRateLimitTable.initialize(region)
        let table = SharedRateLimitTable(region: region)
        // The layout the test reaches into: a 64-byte header, then one lock every 64 bytes, then the slots.
        #expect(SharedRateLimitTable.regionSize == 64 + 64 * SharedRateLimitTable.shardCount + 64 * 512 * 24)
        let locks = (0..<SharedRateLimitTable.shardCount).map { (region.base + 64 + $0 * 64).assumingMemoryBound(to: pthread_mutex_t.self) }
        var keyOfShard = [String?](repeating: nil, count: SharedRateLimitTable.shardCount)
        for index in 0..<10_000 where keyOfShard[Self.place("s\(index)").shard] == nil { keyOfShard[Self.place("s\(index)").shard] = "s\(index)" }
        let keys = try keyOfShard.map { try #require($0) }
        for key in keys { _ = table.count(key: key, limit: 10, windowMilliseconds: Self.minute, nowMilliseconds: 1) }

        let child = fork()
        if child == 0 {
            for lock in locks { pthread_mutex_lock(lock) }
            _exit(0)
        }
        try #require(child > 0)
        var status: Int32 = 0
        #expect(waitpid(child, &status, 0) == child)
        #expect(status == 0)

        let counts = Background { keys.map { table.count(key: $0, limit: 10, windowMilliseconds: Self.minute, nowMilliseconds: 2).count } }
        let counted = counts.wait(seconds: 10)
        #expect(counted != nil, "a count waited for the dead holder's lock")
        #expect(counted == [Int](repeating: 2, count: keys.count), "the windows survived")
        for (shard, lock) in locks.enumerated() {
            let locked = pthread_mutex_trylock(lock)
            #expect(locked == 0, "shard \(shard)'s lock is consistent again, not \(String(cString: strerror(locked)))")
            if locked == 0 { pthread_mutex_unlock(lock) }
        }
    }
}
