import Foundation
import Testing

/// A FastCGI client of the pool's socket (nginx never sends this) that declares a params pair of name and value
/// lengths 0x7ffffffe: libfcgi's allocation for it aborted the worker that read it (the remainder of
/// CVE-2025-23016). The pool closes such a connection unread, logs why, and its workers live, in both dispatch modes.
@Suite("crafted FastCGI params", .serialized)
struct CraftedParamsTests {
    static let crafted: [UInt8] =
        [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]  // BEGIN_REQUEST, responder, keep the connection
        + [1, 4, 0, 1, 0, 72, 0, 0] + [0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFE] + [UInt8](repeating: 0x41, count: 64)

    @Test(arguments: ["events", "threads"])
    func theWorkerThatReadsItLives(dispatch: String) throws {
        let cluster = try TestCluster(workers: 2, threads: 2, extraArguments: ["--dispatch", dispatch])
        defer { cluster.stop() }
        let workers = Set(cluster.workerPIDs())
        for _ in 0..<10 {
            let client = try FastCGITestClient(socketPath: cluster.socketPath)
            try client.sendRaw(Self.crafted)
            #expect(client.readsEnd(), "the connection is closed")
        }
        #expect(try cluster.client().get("/api/health").status == 200)
        #expect(Set(cluster.workerPIDs()) == workers, "no worker died")
        try cluster.waitFor("the refusals' log lines", timeout: 10) {
            cluster.logLines().filter { ($0["msg"] as? String) == "FastCGI request refused unread; connection closed" }.count == 10
        }
    }
}
