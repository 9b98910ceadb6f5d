import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("worker pool lifecycle", .serialized)
struct PoolLifecycleTests {
    @Test func aKilledWorkerIsReplacedWhileTheOthersKeepServing() throws {
        let cluster = try TestCluster(workers: 3, threads: 4, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")
        let before = cluster.workerPIDs()
        #expect(before.count == 3)

        let load = SteadyLoad(on: cluster, key: key, clients: 6)
        let tally = load.tally
        try cluster.waitFor("load to start") { tally["200"] > 200 }
        let victim = before[1]
        kill(victim, SIGKILL)
        let okAtKill = tally["200"]
        try cluster.waitFor("a replacement worker", timeout: 20) {
            let now = cluster.workerPIDs()
            return now.count == 3 && !now.contains(victim)
        }
        try cluster.waitFor("load after the kill") { tally["200"] > okAtKill + 500 }
        try load.stop()

        let failures = tally.all.filter { $0.key != "200" && $0.key != "done" }.values.reduce(0, +)
        // At most the requests the killed worker was serving (one per accept thread).
        #expect(failures <= cluster.threads, "statuses: \(tally.all)")
        let after = cluster.workerPIDs()
        #expect(Set(after).isSuperset(of: [before[0], before[2]]))
        #expect(cluster.logLines().contains { $0["msg"] as? String == "worker died; restarting" && $0["worker.pid"] as? Int == Int(victim) })
    }

    @Test func sigtermDrainsInFlightRequestsAndExitsZero() throws {
        // Access-log batches wait up to 60 s: what is pending at the signal goes out only with the stop.
        let cluster = try TestCluster(workers: 2, threads: 4, extraArguments: ["--rate-limit", "0", "--access-log-flush", "60"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = try cluster.createKey(user: user, scopes: "training")
        let token = try cluster.sessionToken(user: user)

        // Load through nginx before, during and after the signal.
        let load = SteadyLoad(on: cluster, key: key, clients: 4)
        let tally = load.tally
        try cluster.waitFor("load to start") { tally["200"] > 100 }

        // A request in flight inside a worker: half its body sent straight over FastCGI.
        let body = Array(#"{"name":"drained","scopes":["training"]}"#.utf8)
        let inFlight = try FastCGITestClient(socketPath: cluster.socketPath)
        try inFlight.begin(
            method: "POST", path: "/api/user/api-keys",
            headers: ["HTTP_AUTHORIZATION": "Bearer \(token)", "CONTENT_TYPE": "application/json"],
            contentLength: body.count, firstPart: Array(body.prefix(10))
        )
        usleep(200_000)
        let master = try #require(cluster.pool)
        let beforeSignal = tally["200"]
        kill(master.processIdentifier, SIGTERM)
        usleep(300_000)
        #expect(master.isRunning, "the master waits for the in-flight request")

        try inFlight.finish(rest: Array(body.dropFirst(10)))
        let response = try inFlight.readResponse()
        #expect(response.hasPrefix("Status: 201"), "\(response)")
        #expect(response.contains(#""name":"drained""#))

        master.waitUntilExit()
        try cluster.waitFor("load after the pool stopped: \(tally.all)") { tally["502"] > 20 }
        try load.stop()
        #expect(master.terminationReason == .exit)
        #expect(master.terminationStatus == 0)
        #expect(beforeSignal > 0)
        // Every request got a whole answer: served, or refused (502, JSON) once the
        // pool had stopped accepting; none was cut off or left hanging.
        #expect(Set(tally.all.keys).isSubset(of: ["200", "502", "done"]), "statuses: \(tally.all)")
        #expect(!FileManager.default.fileExists(atPath: cluster.socketPath))
        // Every worker drained and exited by itself (none was killed by the signal).
        let exits = cluster.logLines().filter { $0["msg"] as? String == "worker exited" }
        #expect(exits.count == cluster.workers)
        #expect(exits.allSatisfy { $0["worker.exit_code"] as? Int == 0 }, "\(exits)")
        // One access-log line for every answer, though the lines were written in batches.
        let logged = cluster.logLines().filter {
            $0["msg"] as? String == "request" && $0["http.path"] as? String == "/api/training/stats" && $0["http.status"] as? Int == 200
        }
        #expect(logged.count == tally["200"])
        #expect(cluster.logLines().contains { $0["msg"] as? String == "request" && $0["http.status"] as? Int == 201 })
    }
}
