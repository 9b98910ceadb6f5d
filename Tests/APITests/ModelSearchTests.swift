import API
import Domain
import Foundation
import HTTPCore
import Testing

/// A Hub in memory: answers what the test sets and records every request.
final class FakeModelHub: ModelHubTransport, @unchecked Sendable {
    // @unchecked: every access to the mutable state holds `lock`.
    enum Answer {
        case body(Int, String)
        case error(ModelHubTransportError)
    }

    private let lock = NSLock()
    private var _answer: Answer
    private var _requests: [(url: String, headers: [String], timeout: Double)] = []

    init(_ answer: Answer = .body(200, FakeModelHub.sample)) { _answer = answer }

    var answer: Answer {
        get { lock.withLock { _answer } }
        set { lock.withLock { _answer = newValue } }
    }

    var requests: [(url: String, headers: [String], timeout: Double)] { lock.withLock { _requests } }

    func get(url: String, headers: [String], timeoutSeconds: Double) throws(ModelHubTransportError) -> (status: Int, body: [UInt8]) {
        let answer = lock.withLock {
            _requests.append((url, headers, timeoutSeconds))
            return _answer
        }
        switch answer {
        case .body(let status, let text): return (status, Array(text.utf8))
        case .error(let error): throw error
        }
    }

    static let sample = """
        [{"_id":"x1","id":"meta-llama/Llama-3.1-8B","author":"meta-llama","downloads":123456,"likes":789,"tags":["transformers","llama"],
          "pipeline_tag":"text-generation","library_name":"transformers",
          "createdAt":"2024-07-14T08:42:00.000Z","lastModified":"2024-09-25T14:28:51.000Z"},
         {"id":"gpt2","downloads":5,"likes":0,"tags":[],"createdAt":"2022-03-02T23:29:04.000Z"},
         {"id":"Qwen/Qwen2.5-7B","downloads":42.0,"likes":3,"tags":["qwen2"],"pipeline_tag":null}]
        """
}

@Suite struct ModelSearchTests {
    func environment(_ hub: FakeModelHub, token: String? = nil, cacheSeconds: Double = 300, cacheEntries: Int = 256) throws -> TestEnvironment {
        try TestEnvironment(
            modelSearch: ModelSearchSettings(
                endpoint: "http://hub.test/", token: token, timeoutSeconds: 1.5, cacheSeconds: cacheSeconds, cacheEntries: cacheEntries
            ),
            modelHub: hub
        )
    }

    func search(_ env: TestEnvironment, _ query: String) -> Response {
        env.get("/api/models/search", query: query, headers: env.sessionHeaders(userID: "u1"))
    }

    @Test func hubFieldsAreMappedToTheContractsShape() throws {
        let hub = FakeModelHub()
        let env = try environment(hub, token: "hf_secret")
        let response = search(env, "query=llama&limit=10")
        #expect(response.status.code == 200, "\(response.text)")
        let body = try response.object()
        #expect(body["total"] == .int(3) && body["limit"] == .int(10) && body["offset"] == .int(0))
        let models = try #require(body["data"]?.arrayValue).compactMap(\.dictionary)
        #expect(models.count == 3)
        #expect(
            models[0] == [
                "id": .string("meta-llama/Llama-3.1-8B"), "name": .string("Llama-3.1-8B"), "author": .string("meta-llama"),
                "downloads": .int(123456), "likes": .int(789), "tags": .array([.string("transformers"), .string("llama")]),
                "pipeline_tag": .string("text-generation"), "library_name": .string("transformers"),
                "created_at": .string("2024-07-14T08:42:00Z"), "last_modified": .string("2024-09-25T14:28:51Z"),
            ])
        // No slash: the id is the name and there is no author to derive.
        #expect(models[1]["name"] == .string("gpt2") && models[1]["author"] == .null && models[1]["last_modified"] == .null)
        // Author from the id when the Hub leaves it out.
        #expect(models[2]["author"] == .string("Qwen") && models[2]["downloads"] == .int(42) && models[2]["pipeline_tag"] == .null)

        let request = try #require(hub.requests.first)
        #expect(request.url.hasPrefix("http://hub.test/api/models?search=llama&limit=10&sort=downloads&direction=-1"))
        #expect(request.headers.contains("Authorization: Bearer hf_secret"))
        #expect(request.timeout == 1.5)
    }

    @Test func sortLimitOffsetAndEncodingReachTheHub() throws {
        let hub = FakeModelHub()
        let env = try environment(hub)
        #expect(search(env, "query=mistral%207b%26x&sort=last_modified&limit=2&offset=1").status.code == 200)
        let url = try #require(hub.requests.last?.url)
        #expect(url.contains("search=mistral%207b%26x&limit=3&sort=lastModified&direction=-1"))
        #expect(hub.requests.last?.headers.contains { $0.hasPrefix("Authorization") } == false)
        let page = try search(env, "query=mistral%207b%26x&sort=last_modified&limit=2&offset=1").object()
        #expect(page["data"]?.arrayValue?.compactMap { $0.dictionary?["id"]?.stringValue } == ["gpt2", "Qwen/Qwen2.5-7B"])
        #expect(search(env, "query=abc&sort=likes").status.code == 200)
        #expect(hub.requests.last?.url.contains("sort=likes&direction=-1") == true)
    }

    @Test func answersAreCachedPerQueryLimitAndSortAndBounded() throws {
        let hub = FakeModelHub()
        let env = try environment(hub, cacheEntries: 2)
        #expect(search(env, "query=llama").status.code == 200)
        #expect(search(env, "query=llama").status.code == 200)
        #expect(search(env, "query=%20llama%20").status.code == 200)
        #expect(hub.requests.count == 1)
        #expect(search(env, "query=llama&sort=likes").status.code == 200)
        #expect(search(env, "query=llama&limit=5").status.code == 200)
        #expect(hub.requests.count == 3)
        // Two entries at most: the least recently used (the first) was dropped.
        #expect(search(env, "query=llama&limit=5").status.code == 200)
        #expect(hub.requests.count == 3)
        #expect(search(env, "query=llama").status.code == 200)
        #expect(hub.requests.count == 4)
    }

    @Test func cachedAnswersExpire() throws {
        let hub = FakeModelHub()
        let env = try environment(hub, cacheSeconds: 0.2)
        #expect(search(env, "query=llama").status.code == 200)
        #expect(search(env, "query=llama").status.code == 200)
        #expect(hub.requests.count == 1)
        usleep(300_000)
        #expect(search(env, "query=llama").status.code == 200)
        #expect(hub.requests.count == 2)
    }

    @Test func upstreamFailuresAre502And504AndNotCached() throws {
        let hub = FakeModelHub(.error(.timedOut))
        let env = try environment(hub, token: "hf_secret")
        let timeout = search(env, "query=llama")
        #expect(timeout.status.code == 504)
        #expect(try timeout.object()["code"] == .string("UPSTREAM_TIMEOUT"))
        #expect(try timeout.object()["error"]?.stringValue?.isEmpty == false)

        let cases: [(FakeModelHub.Answer, String)] = [
            (.error(.failed("Couldn't connect to server")), "UPSTREAM_ERROR"), (.body(500, "oops"), "UPSTREAM_ERROR"),
            (.body(401, #"{"error":"Invalid credentials"}"#), "UPSTREAM_ERROR"), (.body(200, "<html>not json</html>"), "UPSTREAM_INVALID_RESPONSE"),
            (.body(200, #"{"models":[]}"#), "UPSTREAM_INVALID_RESPONSE"), (.body(200, #"[{"downloads":1}]"#), "UPSTREAM_INVALID_RESPONSE"),
            (.body(200, "[1, 2]"), "UPSTREAM_INVALID_RESPONSE"),
        ]
        for (answer, code) in cases {
            hub.answer = answer
            let response = search(env, "query=llama")
            #expect(response.status.code == 502, "\(answer)")
            #expect(try response.object()["code"] == .string(code))
            #expect(!response.text.contains("hf_secret"))
        }
        hub.answer = .body(200, "[]")
        let empty = try search(env, "query=llama").object()
        #expect(empty["data"] == .array([]) && empty["total"] == .int(0))
        #expect(hub.requests.count == cases.count + 2)
    }

    @Test func parametersAreChecked() throws {
        let hub = FakeModelHub()
        let env = try environment(hub)
        for query in [
            "", "query=", "query=a", "query=%20a%20", "query=llama&sort=trending", "query=llama&limit=0", "query=llama&limit=201",
            "query=llama&offset=-1", "query=llama&limit=200&offset=900", "query=llama&sort=", "query=%20a",
            "query=" + String(repeating: "x", count: 199) + "%20%20",
        ] {
            let response = search(env, query)
            #expect(response.status.code == 400, "\(query): \(response.text)")
        }
        #expect(try search(env, "query=a").object()["details"]?.stringValue?.contains("query") == true)
        #expect(try search(env, "query=llama&sort=x").object()["details"]?.stringValue?.contains("sort") == true)
        #expect(hub.requests.isEmpty)
    }

    @Test func needsTheModelsScope() throws {
        let env = try environment(FakeModelHub())
        #expect(env.get("/api/models/search", query: "query=llama").status.code == 401)
        let training = try env.insertKey(userID: "u1", scopes: [.training]).key
        #expect(env.get("/api/models/search", query: "query=llama", headers: ["X-API-Key": training]).status.code == 403)
        let models = try env.insertKey(userID: "u1", scopes: [.models]).key
        #expect(env.get("/api/models/search", query: "query=llama", headers: ["X-API-Key": models]).status.code == 200)
    }
}
