import Foundation
import Testing

/// Model search through nginx and the pool, against the fake Hub on loopback.
@Suite("model search through nginx", .serialized)
struct ModelSearchEndpointTests {
    @Test func searchMapsCachesAndReportsUpstreamFailures() throws {
        let hub = try FakeHub(slowSeconds: 3)
        defer { hub.stop() }
        let cluster = try TestCluster(
            extraArguments: ["--rate-limit", "0"],
            environment: ["HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "hf_integration_token", "FTAPI_HF_TIMEOUT_SECONDS": "1"]
        )
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = ["X-API-Key": try cluster.createKey(user: user, scopes: "models")]
        let client = cluster.client()

        let found = try client.get("/api/models/search?query=llama&limit=3&sort=likes", headers: key)
        #expect(found.status == 200, "\(found.text)")
        #expect(found.json["total"] as? Int == 3 && found.json["limit"] as? Int == 3 && found.json["offset"] as? Int == 0)
        let models = try #require(found.json["data"] as? [[String: Any]])
        #expect(models.count == 3)
        #expect(models.first?["id"] as? String == "org0/llama-0")
        #expect(models.first?["name"] as? String == "llama-0")
        #expect(models.first?["created_at"] as? String == "2024-07-14T08:42:00Z")
        #expect(models.first?["last_modified"] as? String == "2024-09-25T14:28:51Z")
        #expect(models[1]["author"] as? String == "org1")  // derived from the id
        #expect(
            Set(models[0].keys) == [
                "id", "name", "author", "downloads", "likes", "tags", "pipeline_tag", "library_name", "created_at", "last_modified",
            ])

        var seen = try hub.requests()
        #expect(seen.count == 1)
        #expect(seen.first?.authorization == "Bearer hf_integration_token")
        #expect(seen.first?.path.hasPrefix("/api/models?search=llama&limit=3&sort=likes&direction=-1") == true)
        _ = try client.get("/api/models/search?query=llama%20chat&sort=last_modified", headers: key)
        seen = try hub.requests()
        #expect(seen.last?.path.hasPrefix("/api/models?search=llama%20chat&limit=50&sort=lastModified&direction=-1") == true)

        // Cached per worker: repeats reach the Hub at most once per worker.
        let before = try hub.requests().count
        for _ in 0..<8 {
            let repeated = try HTTPTestClient(port: cluster.port).get("/api/models/search?query=mistral", headers: key)
            #expect(repeated.status == 200)
        }
        #expect(try hub.requests().count - before <= cluster.workers)

        let started = Date()
        let slow = try client.get("/api/models/search?query=slowmodel", headers: key)
        #expect(slow.status == 504, "\(slow.text)")
        #expect(slow.json["code"] as? String == "UPSTREAM_TIMEOUT")
        #expect(Date().timeIntervalSince(started) < 2.9)

        let failing = try client.get("/api/models/search?query=failing", headers: key)
        #expect(failing.status == 502)
        #expect(failing.json["code"] as? String == "UPSTREAM_ERROR")
        #expect((failing.json["error"] as? String)?.isEmpty == false)
        for query in ["malformed", "wrongshape"] {
            let bad = try client.get("/api/models/search?query=\(query)", headers: key)
            #expect(bad.status == 502)
            #expect(bad.json["code"] as? String == "UPSTREAM_INVALID_RESPONSE")
        }
        // A failure is not cached: the Hub is asked again.
        let failures = try hub.requests().filter { $0.path.contains("search=failing") }.count
        _ = try client.get("/api/models/search?query=failing", headers: key)
        #expect(try hub.requests().filter { $0.path.contains("search=failing") }.count == failures + 1)

        let short = try client.get("/api/models/search?query=a", headers: key)
        #expect(short.status == 400)
        #expect((short.json["details"] as? String)?.contains("query") == true)
        #expect(try client.get("/api/models/search?query=llama&sort=newest", headers: key).status == 400)
        #expect(try client.get("/api/models/search?query=llama").status == 401)
        let training = ["X-API-Key": try cluster.createKey(user: user, scopes: "training")]
        #expect(try client.get("/api/models/search?query=llama", headers: training).status == 403)

        // The token never shows in what the pool logs.
        let log = (try? String(contentsOfFile: cluster.poolLogPath, encoding: .utf8)) ?? ""
        #expect(!log.contains("hf_integration_token"))
    }

    @Test func aHubThatCannotBeReachedIsA502() throws {
        // A port nothing listens on: the fake Hub's, after it stopped.
        let hub = try FakeHub()
        let endpoint = hub.endpoint
        hub.stop()
        let cluster = try TestCluster(workers: 1, environment: ["HF_ENDPOINT": endpoint])
        defer { cluster.stop() }
        let key = ["X-API-Key": try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "models")]
        let response = try cluster.client().get("/api/models/search?query=llama", headers: key)
        #expect(response.status == 502)
        #expect(response.json["code"] as? String == "UPSTREAM_ERROR")
    }
}
