import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The pool on PostgreSQL while the server goes away and comes back. Runs alone
/// (it restarts the server every other test uses): `deploy/test.sh` runs it on
/// its own with `FTAPI_TEST_PG_CTL`.
/// The `pg_ctl` command line of the test server, when this suite may restart it.
private let testServerControl = ProcessInfo.processInfo.environment["FTAPI_TEST_PG_CTL"]

@Suite("PostgreSQL going away and coming back", .serialized, .enabled(if: testServerControl != nil && TestCluster.usesPostgres))
struct PostgreSQLFaultTests {

    /// Runs `pg_ctl <action>` on the test server and waits for it: spawned and reaped here (Foundation's
    /// Process can miss the exit of a child that daemonizes), in a session of its own (setsid), so the
    /// restarted server belongs to no group of this test process.
    private func pgctl(_ action: String) throws {
        let command = "\(testServerControl ?? "false") \(action) >/dev/null 2>&1"
        let arguments: [String] = ["/usr/bin/setsid", "-w", "/bin/sh", "-c", command]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        #expect(posix_spawn(&pid, "/usr/bin/setsid", nil, nil, argv, environ) == 0)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        #expect(status == 0, "pg_ctl \(action) exited with status \(status)")
    }

    @Test func aRestartUnderLoadGives503sNot500sAndThePoolRecoversWithoutARestart() throws {
        let cluster = try TestCluster(
            workers: 2, threads: 4, extraArguments: ["--rate-limit", "0"], environment: ["DATABASE_POOL_TIMEOUT_SECONDS": "2"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")
        let workers = cluster.workerPIDs()
        let tally = Tally()
        let phase = Tally()
        let slowest = Tally()
        let threads = (0..<4).map { _ in
            Thread {
                let client = cluster.client()
                while phase["stop"] == 0 {
                    let started = Date()
                    do {
                        let response = try client.get("/api/training/stats", headers: ["X-API-Key": key])
                        var outcome = "\(response.status)"
                        if response.status == 503 {
                            let body = String(decoding: response.body, as: UTF8.self)
                            outcome += body.contains("DATABASE_UNAVAILABLE") || body.contains("DATABASE_BUSY") ? " json" : " other"
                            outcome += response.header("Retry-After") == nil ? " no-retry-after" : ""
                        }
                        tally.add(outcome)
                    } catch {
                        tally.add("error")
                        client.close()
                    }
                    if Date().timeIntervalSince(started) > 4 { slowest.add("over 4 s") }
                }
                tally.add("done")
            }
        }
        for thread in threads { thread.start() }
        try cluster.waitFor("load to start") { tally["200"] > 200 }

        try pgctl("restart -m fast -w -t 30")
        let back = Date()
        let okWhenBack = tally["200"]
        try cluster.waitFor("200s again after the restart", timeout: 2) { tally["200"] > okWhenBack + 20 }
        let recovery = Date().timeIntervalSince(back)
        phase.add("stop")
        try cluster.waitFor("load threads") { tally["done"] == 4 }

        #expect(recovery <= 2, "serving again \(recovery) s after the server was back")
        // Through pgbouncer (transaction mode) a restart this quick may go unseen: requests wait for the server in its queue.
        #expect(tally["503 json"] > 0 || TestCluster.postgresPoolMode == "transaction", "the outage was seen: \(tally.all)")
        print("PostgreSQL restart: \(tally.all), serving again \(recovery) s after it was back")
        #expect(Set(tally.all.keys).isSubset(of: ["200", "503 json", "done"]), "statuses: \(tally.all)")
        #expect(slowest["over 4 s"] == 0, "a request hung past the pool timeout")
        #expect(cluster.workerPIDs() == workers, "no worker was restarted")
    }

    @Test func healthSaysUnavailableWhileTheServerIsDown() throws {
        let cluster = try TestCluster(workers: 1, threads: 2)
        defer { cluster.stop() }
        #expect(try cluster.client().get("/api/health").status == 200)
        try pgctl("stop -m fast -w -t 30")
        do {
            let down = try cluster.client().get("/api/health")
            #expect(down.status == 503)
            #expect(String(decoding: down.body, as: UTF8.self).contains(#""database":"unavailable""#))
        }
        try pgctl("start -w -t 30")
        try cluster.waitFor("health after the start", timeout: 5) { (try? cluster.client().get("/api/health").status) == 200 }
    }
}
