import Foundation
import Testing

@Suite("API keys and rate limits through nginx", .serialized)
struct APIKeyLifecycleTests {
    @Test func createUseRevokeThen401OnEveryWorker() throws {
        let cluster = try TestCluster(workers: 2, threads: 4)
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let token = try cluster.sessionToken(user: user)
        let session = ["Authorization": "Bearer \(token)"]

        let created = try cluster.client().postJSON("/api/user/api-keys", #"{"name":"sdk","scopes":["training"]}"#, headers: session)
        #expect(created.status == 201)
        let data = try #require(created.json["data"] as? [String: Any])
        let key = try #require(data["key"] as? String)
        let id = try #require(created.json["id"] as? String)
        #expect(data["key_prefix"] as? String == String(key.prefix(12)))

        for _ in 0..<20 {
            #expect(try cluster.client().get("/api/training/stats", headers: ["Authorization": "Bearer \(key)"]).status == 200)
        }

        let revoked = try cluster.client().send("DELETE", "/api/user/api-keys/\(id)", headers: session)
        #expect(revoked.status == 200)
        #expect(revoked.json["success"] as? Bool == true)

        // Concurrent clients make nginx open several upstream connections,
        // spread over the workers; keep going until each worker has refused the key.
        let startLine = cluster.logLines().count
        let tally = Tally()
        var refusingWorkers = Set<Int>()
        for _ in 0..<20 where refusingWorkers.count < cluster.workers {
            let threads = (0..<8).map { _ in
                Thread {
                    let client = cluster.client()
                    for _ in 0..<25 {
                        tally.add("\((try? client.get("/api/training/stats", headers: ["X-API-Key": key]).status) ?? 0)")
                    }
                    tally.add("done")
                }
            }
            let done = tally["done"]
            for thread in threads { thread.start() }
            try cluster.waitFor("a burst") { tally["done"] == done + 8 }
            try cluster.waitFor("access log lines") { cluster.logLines().count >= startLine + tally["401"] }
            refusingWorkers = Set(
                cluster.logLines().dropFirst(startLine).filter { ($0["http.status"] as? Int) == 401 }.compactMap { $0["worker.pid"] as? Int }
            )
        }
        #expect(tally.all.keys.sorted() == ["401", "done"], "statuses: \(tally.all)")
        #expect(refusingWorkers.count == cluster.workers)

        let listed = try cluster.client().get("/api/user/api-keys", headers: session)
        #expect((listed.json["data"] as? [Any])?.isEmpty == true)
    }

    @Test func oneRateLimitBudgetAcrossAllWorkers() throws {
        let cluster = try TestCluster(workers: 2, threads: 4, extraArguments: ["--rate-limit", "20", "--rate-limit-window", "60"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")
        let other = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")
        let tally = Tally()
        var limited: HTTPResult?
        for _ in 0..<30 {
            let response = try cluster.client().get("/api/training/stats", headers: ["X-API-Key": key])
            tally.add("\(response.status)")
            if response.status == 429 { limited = response }
        }
        #expect(tally.all == ["200": 20, "429": 10])
        let refused = try #require(limited)
        #expect(Int(refused.header("retry-after") ?? "") ?? 0 >= 1)
        #expect(refused.header("x-ratelimit-limit") == "20")
        #expect(refused.header("x-ratelimit-remaining") == "0")
        #expect(refused.header("x-ratelimit-reset") != nil)
        #expect(refused.json["error"] != nil)

        let unaffected = try cluster.client().get("/api/training/stats", headers: ["X-API-Key": other])
        #expect(unaffected.status == 200)
        #expect(unaffected.header("x-ratelimit-remaining") == "19")
    }

    @Test func usageCountersReachTheDatabase() throws {
        let cluster = try TestCluster()
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = try cluster.createKey(user: user, name: "counted", scopes: "training")
        for _ in 0..<12 { _ = try cluster.client().get("/api/training/stats", headers: ["X-API-Key": key]) }
        let token = try cluster.sessionToken(user: user)
        try cluster.waitFor("usage flush", timeout: 10) {
            let listed = try? cluster.client().get("/api/user/api-keys", headers: ["Authorization": "Bearer \(token)"])
            let first = (listed?.json["data"] as? [[String: Any]])?.first
            return first?["request_count"] as? Int == 12 && first?["last_used_at"] is String
        }
    }
}
