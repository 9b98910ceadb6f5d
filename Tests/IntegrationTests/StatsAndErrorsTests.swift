import Domain
import Foundation
import Testing

@Suite("stats and error paths through nginx", .serialized)
struct StatsAndErrorsTests {
    @Test func statsCountTheRowsInTheDatabase() throws {
        let cluster = try TestCluster()
        defer { cluster.stop() }
        let alice = UUID().uuidString.lowercased()
        let bob = UUID().uuidString.lowercased()
        let key = try cluster.createKey(user: alice, scopes: "training")

        let store = try cluster.store()
        let mix: [(JobStatus, Int)] = [(.completed, 7), (.running, 3), (.failed, 2), (.pending, 4), (.cancelled, 1), (.paused, 2)]
        var jobs: [TrainingJob] = []
        for (status, count) in mix {
            for _ in 0..<count {
                jobs.append(TrainingJob(id: UUID().uuidString.lowercased(), userID: alice, modelName: "m", status: status, createdAt: .now()))
            }
        }
        jobs.append(TrainingJob(id: UUID().uuidString.lowercased(), userID: bob, modelName: "m", status: .running, createdAt: .now()))
        try store.trainingJobs.insert(jobs)

        let response = try cluster.client().get("/api/training/stats", headers: ["X-API-Key": key])
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json; charset=utf-8")
        let body = response.json
        #expect(Set(body.keys) == ["total_jobs", "completed", "running", "failed", "pending", "cancelled", "paused"])
        #expect(body["total_jobs"] as? Int == 19)
        #expect(body["completed"] as? Int == 7)
        #expect(body["running"] as? Int == 3)
        #expect(body["failed"] as? Int == 2)
        #expect(body["pending"] as? Int == 4)
        #expect(body["cancelled"] as? Int == 1)
        #expect(body["paused"] as? Int == 2)
    }

    @Test func errorsNginxAnswersItselfAreJSONWithTheirStatus() throws {
        let cluster = try TestCluster(workers: 1, threads: 2)
        defer { cluster.stop() }
        let long = String(repeating: "a", count: 20_000)
        let cases: [(String, Int)] = [
            ("GET /api/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET /api/..%2F..%2F..%2Fetc HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GARBAGE\r\n\r\n", 400),
            ("GET /api/x HTTP/1.1\r\nHost: x\r\nX-Big: \(long)\r\n\r\n", 431),
            ("GET /api/\(long) HTTP/1.1\r\nHost: x\r\n\r\n", 414),
            ("TRACE /api/health HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            ("GET /_ftapi/errors/400 HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            ("GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        ]
        for (request, status) in cases {
            let client = cluster.client()
            try client.write(Array(request.utf8))
            let response = try client.receive()
            let label = String(request.prefix(40))
            #expect(response.status == status, "\(label)")
            #expect(response.header("Content-Type")?.hasPrefix("application/json") == true, "\(label)")
            #expect(response.json["error"] is String, "\(label): \(response.text)")
            if status == 405 { #expect(response.header("Allow")?.contains("GET") == true) }
        }
    }

    @Test func aCredentialHeaderSentTwiceIsRefused() throws {
        let cluster = try TestCluster(workers: 1, threads: 2)
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")
        let bad = "wak_" + String(repeating: "x", count: 32)
        for (first, second) in [(bad, key), (key, bad), (key, key)] {
            let client = cluster.client()
            try client.write(
                Array(("GET /api/training/stats HTTP/1.1\r\nHost: x\r\nX-API-Key: \(first)\r\nX-API-Key: \(second)\r\n\r\n").utf8))
            #expect(try client.receive().status == 401, "\(first.prefix(8))… then \(second.prefix(8))…")
        }
        #expect(try cluster.client().get("/api/training/stats", headers: ["X-API-Key": key]).status == 200)
    }

    @Test func errorsAreJSONWithTheContractsStatuses() throws {
        let cluster = try TestCluster()
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let analyticsKey = try cluster.createKey(user: user, scopes: "analytics")
        let token = try cluster.sessionToken(user: user)
        let client = cluster.client()

        let missing = try client.get("/api/training/stats")
        #expect(missing.status == 401)
        #expect(missing.text == #"{"error":"Missing authorization header"}"#)

        let unknown = try client.get("/api/training/stats", headers: ["X-API-Key": "wak_" + String(repeating: "A", count: 32)])
        #expect(unknown.status == 401)
        #expect(unknown.text == #"{"error":"Unauthorized"}"#)

        let scope = try client.get("/api/training/stats", headers: ["X-API-Key": analyticsKey])
        #expect(scope.status == 403)
        #expect(scope.json["code"] as? String == "INSUFFICIENT_SCOPE")

        let notFound = try client.get("/api/training/nothing-here", headers: ["X-API-Key": analyticsKey])
        #expect(notFound.status == 404)
        #expect(notFound.json["error"] != nil)
        #expect(notFound.header("x-request-id") != nil)

        let outsideAPI = try client.get("/index.html")
        #expect(outsideAPI.status == 404)
        #expect(outsideAPI.json["error"] != nil)

        let method = try client.send("DELETE", "/api/training/stats", headers: ["X-API-Key": analyticsKey])
        #expect(method.status == 405)
        #expect(method.header("allow") == "GET, HEAD")
        #expect(method.json["error"] != nil)

        let malformed = try client.postJSON("/api/user/api-keys", #"{"name": "x", "#, headers: ["Authorization": "Bearer \(token)"])
        #expect(malformed.status == 400)
        #expect(malformed.json["error"] as? String == "Malformed JSON")

        let wrongType = try client.send(
            "POST", "/api/user/api-keys", headers: ["Authorization": "Bearer \(token)", "Content-Type": "text/plain"], body: Array("name=x".utf8)
        )
        #expect(wrongType.status == 415)
    }

    @Test func bodyLimitsGive413AndKeepConnectionsUsable() throws {
        let cluster = try TestCluster(extraArguments: ["--max-body-bytes", "65536"])
        defer { cluster.stop() }
        let token = try cluster.sessionToken(user: UUID().uuidString.lowercased())
        let client = cluster.client()
        let headers = ["Authorization": "Bearer \(token)", "Content-Type": "application/json"]

        // Over the pool's limit, under nginx's: the pool answers (it sets X-Request-Id).
        let overPool = try client.send("POST", "/api/user/api-keys", headers: headers, body: [UInt8](repeating: 0x20, count: 100_000))
        #expect(overPool.status == 413)
        #expect(overPool.json["error"] as? String == "Request body too large")
        #expect(overPool.header("x-request-id") != nil)

        // Over nginx's client_max_body_size: nginx answers, in JSON too.
        let overNginx = try client.send("POST", "/api/user/api-keys", headers: headers, body: [UInt8](repeating: 0x20, count: 2_000_000))
        #expect(overNginx.status == 413)
        #expect(overNginx.json["error"] as? String == "Request body too large")

        // The pool drained the refused bodies: its kept connections still work.
        var statuses: [Int] = []
        for index in 0..<40 {
            let fresh = cluster.client()
            statuses.append(try fresh.postJSON("/api/user/api-keys", #"{"name":"k\#(index)","scopes":["training"]}"#, headers: headers).status)
        }
        #expect(statuses.allSatisfy { $0 == 201 })
    }

    @Test func oversizedParamsAreRefused() throws {
        let cluster = try TestCluster(extraArguments: ["--max-params-bytes", "4096"])
        defer { cluster.stop() }
        let response = try cluster.client().get("/api/training/stats", headers: ["X-Padding": String(repeating: "p", count: 6000)])
        #expect(response.status == 431)
        #expect(response.json["error"] != nil)
        #expect(try cluster.client().get("/api/health").status == 200)
    }
}
