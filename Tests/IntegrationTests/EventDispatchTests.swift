import Domain
import Foundation
import Testing

@testable import Storage

#if canImport(Glibc)
import Glibc
#endif

/// The worker's event dispatch (`--dispatch events`, the default): kept connections hold no thread, and a
/// request waiting on the network gives its thread's seat to another.
@Suite("event dispatch", .serialized)
struct EventDispatchTests {
    /// With a thread per connection, the third kept connection would wait in the listen backlog for as long as
    /// the first two stay open.
    @Test func twoThreadsServeEightKeptConnections() throws {
        let cluster = try TestCluster(workers: 1, threads: 2, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let clients = try (0..<8).map { _ in try FastCGITestClient(socketPath: cluster.socketPath) }
        for round in 0..<3 {
            for (index, client) in clients.enumerated() {
                try client.begin(method: "GET", path: "/api/health", headers: [:], contentLength: 0, firstPart: [], keepConnection: true)
                try client.finish(rest: [])
                let response = try client.readResponse()
                #expect(response.hasPrefix("Status: 200"), "round \(round), connection \(index): \(response.prefix(80))")
            }
        }
    }

    /// nginx keeps the connections it opens, so the worker that takes one serves its requests for as long as
    /// nginx keeps it: the workers share new connections out by how many they hold. (Taken by whichever worker
    /// was first, eight connections opened at once could all end up in one worker.)
    @Test func newConnectionsAreSharedOutBetweenTheWorkers() throws {
        let cluster = try TestCluster(workers: 2, threads: 4, extraArguments: ["--rate-limit", "0"], statusListener: true)
        defer { cluster.stop() }
        let clients = try (0..<8).map { _ in try FastCGITestClient(socketPath: cluster.socketPath) }
        for client in clients {
            try client.begin(method: "GET", path: "/api/health", headers: [:], contentLength: 0, firstPart: [], keepConnection: true)
            try client.finish(rest: [])
            #expect(try client.readResponse().hasPrefix("Status: 200"))
        }
        // Besides these eight, nginx keeps the connection of the start-up health checks.
        let held = try #require(cluster.status()["workers"] as? [[String: Any]]).compactMap { $0["connections"] as? Int }
        #expect(held.count == 2 && held.reduce(0, +) >= 8 && held.min()! >= 3, "connections held by each worker: \(held)")
    }

    /// A worker leaves a new connection to one holding fewer, but not for long: here the one holding fewer
    /// has its only thread in a Hub call, and the other takes the connection after its patience (10 ms).
    @Test func aConnectionLeftToABusyWorkerIsTakenByAnother() throws {
        let hub = try FakeHub(slowSeconds: 4)
        defer { hub.stop() }
        let cluster = try TestCluster(
            workers: 2, threads: 1, extraArguments: ["--rate-limit", "0"],
            environment: ["HF_ENDPOINT": hub.endpoint, "FTAPI_HF_TIMEOUT_SECONDS": "10", "FTAPI_MODELS_CACHE_SECONDS": "0"],
            statusListener: true)
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "models")
        // nginx keeps one connection, in one worker; this one goes to the other, which then waits on the Hub.
        let busy = try FastCGITestClient(socketPath: cluster.socketPath)
        try busy.begin(
            method: "GET", path: "/api/models/search", headers: ["HTTP_X_API_KEY": key, "QUERY_STRING": "query=slowpoke"], contentLength: 0,
            firstPart: [], keepConnection: true)
        try busy.finish(rest: [])
        try cluster.waitFor("the Hub call") { (try? hub.requests().count) == 1 }
        // One connection each: the free worker takes this one at once, and then holds more.
        var elapsed: [Double] = []
        var kept: [FastCGITestClient] = []
        for _ in 0..<2 {
            let started = Date()
            let client = try FastCGITestClient(socketPath: cluster.socketPath)
            kept.append(client)
            try client.begin(method: "GET", path: "/api/health", headers: [:], contentLength: 0, firstPart: [], keepConnection: true)
            try client.finish(rest: [])
            #expect(try client.readResponse().hasPrefix("Status: 200"))
            elapsed.append(Date().timeIntervalSince(started))
        }
        #expect(elapsed.allSatisfy { $0 < 1 }, "health on a new connection took \(elapsed) s while the other worker waited on the Hub")
        #expect(try busy.readResponse().hasPrefix("Status: 200"))
    }

    /// The master shuts the listening socket down when it stops; the socket then stays readable, and a draining
    /// worker must stop listening once its queue is empty instead of going back to accept() (which answers
    /// EAGAIN on a non-blocking socket) for as long as the drain lasts. An idle kept connection keeps the drain
    /// going for the 5 s grace.
    @Test func aDrainingWorkerDoesNotSpinOnTheShutListener() throws {
        let cluster = try TestCluster(workers: 1, threads: 2, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let kept = try FastCGITestClient(socketPath: cluster.socketPath)
        try kept.begin(method: "GET", path: "/api/health", headers: [:], contentLength: 0, firstPart: [], keepConnection: true)
        try kept.finish(rest: [])
        #expect(try kept.readResponse().hasPrefix("Status: 200"))
        let worker = try #require(cluster.workerPIDs().first)
        let before = try #require(Self.cpuSeconds(of: worker))
        kill(try #require(cluster.pool).processIdentifier, SIGTERM)
        usleep(1_500_000)
        let during = try #require(Self.cpuSeconds(of: worker), "the worker ended its drain early")
        #expect(during - before < 0.3, "the draining worker used \(during - before) s of CPU in 1.5 s")
    }

    /// User plus system CPU seconds of `pid` (`/proc/PID/stat`), nil once it is gone.
    private static func cpuSeconds(of pid: pid_t) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// One seat, held by a request that waits without saying so (SQLite's busy handler, while another process
    /// holds the write lock): the supervisor lends a seat after 0.2 s, and a parked thread serves meanwhile.
    @Test(.enabled(if: !TestCluster.usesPostgres))
    func aRequestKeepingItsSeatThroughAWaitGetsASeatLent() throws {
        let cluster = try TestCluster(workers: 1, threads: 3, extraArguments: ["--rate-limit", "0", "--active-threads", "1"])
        defer { cluster.stop() }
        let token = try cluster.sessionToken(user: UUID().uuidString.lowercased())
        let holder = try SQLiteConnection(configuration: SQLiteConfiguration(path: cluster.databasePath))
        try holder.execute("BEGIN IMMEDIATE")
        let created = Tally()
        let done = DispatchSemaphore(value: 0)
        Thread {
            let status =
                (try? cluster.client().postJSON("/api/training/jobs", #"{"model_name":"held"}"#, headers: ["Authorization": "Bearer \(token)"]).status)
                ?? 0
            created.add("\(status)")
            done.signal()
        }.start()
        usleep(600_000)
        let slowest = try cluster.slowestHealthCheck()
        try holder.execute("ROLLBACK")
        done.wait()
        #expect(slowest < 0.5, "health took up to \(slowest) s while the only seat waited on SQLite's write lock")
        #expect(created.all == ["201": 1])
    }

    /// One seat: while the only running thread waits for an upload's body, a parked thread takes its seat.
    @Test func aRequestWaitingForItsBodyGivesItsSeatAway() throws {
        let cluster = try TestCluster(workers: 1, threads: 3, extraArguments: ["--rate-limit", "0", "--active-threads", "1"])
        defer { cluster.stop() }
        let token = try cluster.sessionToken(user: UUID().uuidString.lowercased())
        let upload = try cluster.stalledUpload(token: token)
        try withExtendedLifetime(upload) {
            usleep(300_000)
            let slowest = try cluster.slowestHealthCheck()
            #expect(slowest < 0.5, "health took up to \(slowest) s while the only seated thread waited for a body")
        }
    }
}
