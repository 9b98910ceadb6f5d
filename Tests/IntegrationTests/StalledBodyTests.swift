import Domain
import Foundation
import Testing

@testable import Storage

#if canImport(Glibc)
import Glibc
#endif

/// Slow and stalled dataset bodies (nginx passes them unbuffered) can't hold the pool: a worker gives streamed
/// bodies only part of its threads (503 past it), and cuts a body slower than the minimum rate (408).
@Suite("stalled bodies", .serialized)
struct StalledBodyTests {
    @Test func stalledUploadsNeitherHoldThePoolNorLastForever() throws {
        let cluster = try TestCluster(
            workers: 1, threads: 4, extraArguments: ["--rate-limit", "0"],
            environment: ["FTAPI_STREAMED_BODY_THREADS": "2", "FTAPI_BODY_MIN_RATE": "500", "FTAPI_BODY_MIN_RATE_WINDOW": "1.5"])
        defer { cluster.stop() }
        let token = try cluster.sessionToken(user: UUID().uuidString.lowercased())
        // Six uploads that send their head and one byte, then go quiet.
        let stalled = try (0..<6).map { _ in try cluster.stalledUpload(token: token) }
        // Meanwhile ordinary requests answer at normal speed.
        usleep(300_000)
        let slowest = try cluster.slowestHealthCheck()
        #expect(slowest < 0.5, "health took up to \(slowest) s with stalled uploads in flight")

        let started = Date()
        var statuses: [Int] = []
        for client in stalled {
            let response = try client.receive()
            statuses.append(response.status)
            if response.status == 503 {
                #expect(response.header("retry-after") == "1")
                #expect(response.json["code"] as? String == "UPLOADS_BUSY")
            }
            if response.status == 408 { #expect(response.json["code"] as? String == "BODY_TOO_SLOW") }
        }
        // Two held the worker's two streamed-body threads until the rate check cut them; the rest were refused at once.
        #expect(statuses.sorted() == [408, 408, 503, 503, 503, 503], "\(statuses)")
        #expect(Date().timeIntervalSince(started) < 6)
        // Worker log lines reach the file through the master's relay, a moment after the answers.
        try cluster.waitFor("the two cuts in the log", timeout: 5) {
            cluster.logLines().filter { $0["msg"] as? String == "request body too slow; cut" }.count == 2
        }
    }

    /// An upload authenticated by an API key read its key in a read transaction; while it waits for its body
    /// that snapshot is let go, so the checkpoint catches up with what others write meanwhile.
    @Test(.enabled(if: !TestCluster.usesPostgres))
    func anUploadWaitingForItsBodyHoldsNoSnapshot() throws {
        let cluster = try TestCluster(workers: 1, threads: 4, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let session = ["Authorization": "Bearer \(try cluster.sessionToken(user: UUID().uuidString.lowercased()))"]
        let created = try cluster.client().postJSON("/api/user/api-keys", #"{"name":"upload","scopes":["datasets"]}"#, headers: session)
        let key = try #require((created.json["data"] as? [String: Any])?["key"] as? String)

        let upload = cluster.client()
        let head =
            "POST /api/datasets/validate HTTP/1.1\r\nHost: x\r\nX-API-Key: \(key)\r\n"
            + "Content-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{\"messages\":"
        try upload.write(Array(head.utf8))
        usleep(300_000)
        #expect(try cluster.client().postJSON("/api/user/api-keys", #"{"name":"meanwhile"}"#, headers: session).status == 201)
        let checkpoint = try SQLiteConnection(configuration: SQLiteConfiguration(path: cluster.databasePath)).first(
            "PRAGMA wal_checkpoint(PASSIVE)"
        ) { (frames: $0.int(1), checkpointed: $0.int(2)) }
        #expect(checkpoint?.frames ?? 0 > 0)
        #expect(checkpoint?.checkpointed == checkpoint?.frames, "the waiting upload held a snapshot: \(String(describing: checkpoint))")
    }
}
