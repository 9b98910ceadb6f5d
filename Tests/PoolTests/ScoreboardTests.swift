import Essentials
import Foundation
import Testing

@testable import Pool

/// The pool's shared figures, in a region of this process: the master's side (slots, restarts, generations) and
/// the workers' (requests, connections, recycling), read back as `/status` and `/metrics` read them.
@Suite("Scoreboard")
struct ScoreboardTests {
    @Test func aNewBoardIsTheMastersFirstGeneration() throws {
        let board = try makeScoreboard()
        #expect(board.generation == 1)
        #expect(board.state == .running)
        #expect(board.load(.masterPID) == Int64(getpid()))
        #expect(board.workers().isEmpty)
        board.state = .degraded
        #expect(board.state == .degraded)
    }

    @Test func slotsAreClaimedLowestFirstAndFreedForReuse() throws {
        let board = try makeScoreboard()
        let first = try #require(board.claimSlot(generation: 1))
        // A slot claimed for a process not started yet is taken, pid or not.
        let second = try #require(board.claimSlot(generation: 1))
        #expect((first, second) == (0, 1))
        board.assign(slot: first, pid: 100)
        board.assign(slot: second, pid: 101)
        #expect(board.workers().map(\.pid) == [100, 101])
        #expect(board.workers().map(\.state) == ["starting", "starting"])
        board.setState(slot: second, .serving)
        #expect(board.workerState(slot: second) == .serving)
        #expect(board.workers()[1].state == "serving")

        board.release(slot: first)
        #expect(board.workers().map(\.pid) == [101])
        #expect(board.claimSlot(generation: 2) == first, "the freed slot is reused")
        board.assign(slot: first, pid: 102)
        #expect(board.workers().first { $0.pid == 102 }?.generation == 2)
        #expect(board.claimSlot(generation: 2) == 2)
    }

    @Test func aReusedSlotStartsWithNothingOfItsLastProcess() throws {
        let board = try makeScoreboard()
        let slot = try #require(board.claimSlot(generation: 1))
        board.assign(slot: slot, pid: 100)
        for _ in 0..<3 { _ = board.requestStarted(slot: slot) }
        board.setConnections(slot: slot, 7)
        board.setTakesConnections(slot: slot, true)
        board.setAnonymousBytes(slot: slot, 1 << 20)
        board.requestRecycle(slot: slot, .memory)
        board.release(slot: slot)

        #expect(board.claimSlot(generation: 1) == slot)
        board.assign(slot: slot, pid: 200)
        let worker = try #require(board.workers().first)
        #expect(worker.pid == 200 && worker.requests == 0 && worker.active == 0 && worker.connections == 0)
        #expect(board.load(slot: slot, .takesConnections) == 0 && board.load(slot: slot, .anonymousBytes) == 0)
        #expect(board.recycleReason(slot: slot) == nil)
    }

    @Test func noSlotIsLeftOnceEveryOneIsClaimed() throws {
        let board = try makeScoreboard()
        for slot in 0..<Scoreboard.workerSlotCount { #expect(board.claimSlot(generation: 1) == slot) }
        #expect(board.claimSlot(generation: 1) == nil)
        board.release(slot: 300)
        #expect(board.claimSlot(generation: 1) == 300)
    }

    @Test func requestsAreCountedPerWorkerAndByRouteMethodAndStatus() throws {
        let board = try makeScoreboard()
        let slot = try #require(board.claimSlot(generation: 1))
        board.assign(slot: slot, pid: 100)
        #expect((1...4).map { _ in board.requestStarted(slot: slot) } == [1, 2, 3, 4])
        #expect(board.workers()[0].active == 4)

        board.requestFinished(slot: slot, route: 0, method: "GET", status: 200, seconds: 0.003, databaseSeconds: 0.002)
        board.requestFinished(slot: slot, route: nil, method: "POST", status: 404, seconds: 0.005, databaseSeconds: 0)
        board.requestFinished(slot: slot, route: 400, method: "BREW", status: 299, seconds: 31, databaseSeconds: 0)
        board.requestFinished(slot: slot, route: 0, method: "GET", status: 429, seconds: 0.0005, databaseSeconds: 0)

        let worker = board.workers()[0]
        #expect(worker.requests == 4 && worker.active == 0)
        #expect(board.load(.accepted) == 4)
        #expect(board.load(.rateLimited) == 1)
        func status(_ code: Int) -> Int { Scoreboard.statuses.firstIndex(of: code)! }
        // Route 0 of the responder is label 1; label 0 is unmatched, as is a route past the labels there are.
        #expect(board.requestCount(label: 1, method: 0, statusSlot: status(200)) == 1)
        #expect(board.requestCount(label: 1, method: 0, statusSlot: status(429)) == 1)
        #expect(board.requestCount(label: 0, method: 2, statusSlot: status(404)) == 1)
        // An unknown method and status count as `other`.
        #expect(board.requestCount(label: 0, method: Scoreboard.methods.count - 1, statusSlot: Scoreboard.statuses.count) == 1)
        #expect(board.requestCount(label: 1, method: 2, statusSlot: status(200)) == 0)

        // Buckets are upper bounds, inclusive: 0.0005 and 0.003 s in the first and third, 0.005 in the third, 31 s past the last.
        let matched = board.durationHistogram(label: 1)
        #expect(matched.buckets.count == Scoreboard.durationBuckets.count + 1)
        #expect(matched.buckets[0] == 1 && matched.buckets[2] == 1 && matched.buckets.reduce(0, +) == 2)
        #expect(abs(matched.sumSeconds - 0.0035) < 0.000_01)
        let unmatched = board.durationHistogram(label: 0)
        #expect(unmatched.buckets[2] == 1 && unmatched.buckets.last == 1 && unmatched.buckets.reduce(0, +) == 2)
        let database = board.databaseHistogram()
        #expect(database.buckets[0] == 3 && database.buckets[1] == 1)
        #expect(abs(database.sumSeconds - 0.002) < 0.000_01)
    }

    @Test func aWorkersOwnCountsReachTheMastersViewOfTheSameRegion() throws {
        let region = try SharedMemory.anonymous(size: Scoreboard.regionSize)
        Scoreboard.initialize(region, masterPID: 1)
        let master = Scoreboard(region: region)
        let worker = Scoreboard(region: region)
        let slot = try #require(master.claimSlot(generation: 1))
        master.assign(slot: slot, pid: 100)
        let threads = (0..<4).map { _ in
            Background {
                for _ in 0..<2_500 {
                    _ = worker.requestStarted(slot: slot)
                    worker.requestFinished(slot: slot, route: 1, method: "PUT", status: 201, seconds: 0.02, databaseSeconds: 0)
                }
                return true
            }
        }
        for thread in threads { #expect(thread.wait(seconds: 60) == true) }
        #expect(master.workers()[0].requests == 10_000 && master.workers()[0].active == 0)
        #expect(master.requestCount(label: 2, method: 3, statusSlot: Scoreboard.statuses.firstIndex(of: 201)!) == 10_000)
        #expect(master.durationHistogram(label: 2).buckets[4] == 10_000)
    }

    @Test func aRecycleRequestKeepsItsFirstReason() throws {
        let board = try makeScoreboard()
        let slot = try #require(board.claimSlot(generation: 1))
        #expect(board.recycleReason(slot: slot) == nil)
        board.requestRecycle(slot: slot, .memory)
        board.requestRecycle(slot: slot, .stuckThread)
        #expect(board.recycleReason(slot: slot) == .memory)
    }

    @Test func restartsAreCountedByReason() throws {
        let board = try makeScoreboard()
        for reason in [RestartReason.crash, .crash, .recycle, .reload, .crash] { board.countRestart(reason) }
        #expect((board.load(.crashed), board.load(.recycled), board.load(.reloaded)) == (3, 1, 1))
        board.countSlow()
        board.countTimedOut()
        board.countTimedOut()
        #expect((board.load(.slow), board.load(.timedOut)) == (1, 2))
    }

    /// Only a serving worker that takes connections is compared with: a starting, draining or paused one never
    /// gets a connection left to it, nor does the asking worker count itself.
    @Test func anotherWorkerHoldsFewerConnectionsOnlyIfItServesAndTakesConnections() throws {
        let board = try makeScoreboard()
        let (us, other, third) = (board.claimSlot(generation: 1)!, board.claimSlot(generation: 1)!, board.claimSlot(generation: 1)!)
        for slot in [us, other, third] { board.assign(slot: slot, pid: Int32(100 + slot)) }
        board.setState(slot: us, .serving)
        board.setTakesConnections(slot: us, true)
        board.setConnections(slot: us, 0)
        #expect(!board.anotherWorkerHoldsFewerConnections(than: 3, slot: us), "only ourselves take connections")

        // The last slot claimed (the highest) is looked at.
        board.setConnections(slot: third, 1)
        board.setState(slot: third, .serving)
        #expect(!board.anotherWorkerHoldsFewerConnections(than: 3, slot: us), "it does not take connections")
        board.setTakesConnections(slot: third, true)
        #expect(board.anotherWorkerHoldsFewerConnections(than: 3, slot: us))
        #expect(!board.anotherWorkerHoldsFewerConnections(than: 1, slot: us), "as many is not fewer")
        board.setState(slot: third, .draining)
        #expect(!board.anotherWorkerHoldsFewerConnections(than: 3, slot: us), "it drains")

        board.setState(slot: other, .starting)
        board.setTakesConnections(slot: other, true)
        #expect(!board.anotherWorkerHoldsFewerConnections(than: 3, slot: us), "it has not started serving")
        board.setState(slot: other, .serving)
        #expect(board.anotherWorkerHoldsFewerConnections(than: 3, slot: us))
        board.setConnections(slot: other, 5)
        #expect(!board.anotherWorkerHoldsFewerConnections(than: 3, slot: us))
        #expect(board.anotherWorkerHoldsFewerConnections(than: 6, slot: us))
        board.setTakesConnections(slot: us, false)
        #expect(!board.anotherWorkerHoldsFewerConnections(than: 6, slot: other), "a worker does not compare with itself")
        board.setTakesConnections(slot: us, true)
        #expect(board.anotherWorkerHoldsFewerConnections(than: 6, slot: other))
    }

    @Test func routeLabelsArePublishedOncePerGeneration() throws {
        let board = try makeScoreboard()
        let long = "/" + String(repeating: "x", count: 300)
        board.publishRouteLabels([("GET", "/api/health"), ("POST", "/api/training/jobs"), ("PUT", long)])
        board.publishRouteLabels([("DELETE", "/other")])
        var labels = board.routeLabels()
        #expect(labels.count == Scoreboard.routeLabelCount)
        #expect(labels[0] == nil, "label 0 is unmatched")
        #expect(labels[1]?.method == "GET" && labels[1]?.pattern == "/api/health")
        #expect(labels[2]?.method == "POST" && labels[2]?.pattern == "/api/training/jobs")
        #expect(labels[3]?.pattern == String(long.prefix(Scoreboard.labelBytes - 1 - "PUT ".count)), "cut to fit its place")
        #expect(labels[4] == nil)

        board.beginGeneration()
        #expect(board.generation == 2)
        #expect(board.routeLabels()[1] == nil, "the new binary writes its own")
        board.publishRouteLabels([("DELETE", "/other")])
        labels = board.routeLabels()
        #expect(labels[1]?.method == "DELETE" && labels[2] == nil)
    }
}
