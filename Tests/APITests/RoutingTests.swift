import API
import Domain
import Essentials
import Foundation
import HTTPCore
import Testing

@Suite("Routing, transport rejections, request ids and health")
struct RoutingTests {
    // MARK: Router

    /// What every route of these tests' routers is documented as.
    private let thing = OpenAPIOperation(tag: "things", summary: "A route of this test.")

    @Test func aRouteDeclaresItsBodyHandlingAndIsMatchedOnce() throws {
        var router = Router()
        router.post("/api/things/{id:uuid}/upload", auth: .none, body: .streamed(maxBytes: 10), operation: thing) { context in
            .action("streamed \(context.request.bodyStream != nil)")
        }
        router.get("/api/things/{id:uuid}/upload", auth: .none, operation: thing) { _ in .action("get") }
        let id = UUID().uuidString
        #expect(router.match(method: "POST", path: "/api/things/\(id)/upload").body == .streamed(maxBytes: 10))
        #expect(router.match(method: "POST", path: "/api/things/\(id)/upload/").body == .streamed(maxBytes: 10))
        #expect(router.match(method: "GET", path: "/api/things/\(id)/upload").body == .buffered)
        #expect(router.match(method: "PUT", path: "/api/things/\(id)/upload").body == .buffered)
        #expect(router.match(method: "POST", path: "/api/things/not-a-uuid/upload").body == .buffered)
    }

    @Test func unknownPathIs404JSON() throws {
        let env = try TestEnvironment()
        for path in ["/api/nope", "/api/training/stats/extra", "/", "/api/user/api-keys/\(UUID().uuidString)/x"] {
            let response = env.get(path)
            #expect(response.status.code == 404, "\(path)")
            #expect(try response.object() == errorBody("Not found", code: "NOT_FOUND"), "\(path)")
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        }
    }

    @Test func knownPathWithOtherMethodIs405WithAllow() throws {
        let env = try TestEnvironment()

        let stats = env.send("POST", "/api/training/stats")
        #expect(stats.status.code == 405)
        #expect(stats.header("Allow") == "GET, HEAD")
        #expect(try stats.object()["code"] == .string("METHOD_NOT_ALLOWED"))

        let keys = env.send("PUT", "/api/user/api-keys")
        #expect(keys.status.code == 405)
        let allow = try #require(keys.header("Allow"))
        #expect(Set(allow.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) == ["GET", "HEAD", "POST"])

        let one = env.get("/api/user/api-keys/\(UUID().uuidString.lowercased())")
        #expect(one.status.code == 405)
        #expect(one.header("Allow") == "DELETE")
    }

    @Test func methodCheckComesBeforeAuth() throws {
        // No credential at all: the 405 must not turn into a 401.
        let env = try TestEnvironment()
        #expect(env.send("DELETE", "/api/training/stats").status.code == 405)
        #expect(env.send("PATCH", "/api/health").status.code == 405)
    }

    @Test func uuidParameterRejectsOtherSegments() throws {
        let env = try TestEnvironment()
        let session = env.sessionHeaders(userID: newUserID())
        for segment in [
            "not-a-uuid", "123", UUID().uuidString.lowercased() + "0", String(UUID().uuidString.dropLast()),
            "g" + String(UUID().uuidString.lowercased().dropFirst()), UUID().uuidString.replacingOccurrences(of: "-", with: "_"),
        ] {
            let response = env.send("DELETE", "/api/user/api-keys/\(segment)", headers: session)
            #expect(response.status.code == 404, "\(segment)")
        }
    }

    @Test func routerLowercasesUppercaseUUID() throws {
        var router = Router()
        router.get("/api/things/{id:uuid}", auth: .none, operation: thing) { context in .action(context.parameter("id")) }
        router.get("/api/names/{name:string}", auth: .none, operation: thing) { context in .action(context.parameter("name")) }
        let upper = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"

        guard case .found(let route, let parameters) = router.match(method: "GET", path: "/api/things/\(upper)") else {
            Issue.record("uppercase UUID did not match")
            return
        }
        #expect(route.pattern == "/api/things/{id:uuid}")
        #expect(parameters["id"] == upper.lowercased())

        guard case .notFound = router.match(method: "GET", path: "/api/things/nope") else {
            Issue.record("non-UUID segment matched a uuid parameter")
            return
        }
        guard case .found(_, let named) = router.match(method: "GET", path: "/api/names/Some-Name") else {
            Issue.record("string parameter did not match")
            return
        }
        #expect(named["name"] == "Some-Name")
        #expect(canonicalUUID(upper) == upper.lowercased())
        #expect(canonicalUUID("3F2504E0-4F89-11D3-9A0C-0305E82C330") == nil)
    }

    @Test func uppercaseUUIDReachesHandlerLowercased() throws {
        // End to end: a key created through the API can be revoked by its id in uppercase.
        let env = try TestEnvironment()
        let user = newUserID()
        let (key, record) = try env.insertKey(userID: user)
        let response = env.send("DELETE", "/api/user/api-keys/\(record.id.uppercased())", headers: env.sessionHeaders(userID: user))
        #expect(response.status.code == 200)
        #expect(env.stats(["X-API-Key": key]).status.code == 401)
    }

    /// HEAD runs the GET handler and keeps its body, so Content-Length is the
    /// GET's; nginx sends the head only.
    @Test func headIsServedByGetWithTheGetsLength() throws {
        let env = try TestEnvironment()
        let head = env.send("HEAD", "/api/health")
        let get = env.send("GET", "/api/health")
        #expect(head.status.code == 200)
        let serialized = String(decoding: head.serializedHead(), as: UTF8.self)
        #expect(serialized.contains("Content-Length: \(get.body.count)\r\n"))
    }

    // MARK: Transport rejections

    @Test func bodyTooLargeIs413JSON() throws {
        let env = try TestEnvironment()
        let response = env.send("POST", "/api/user/api-keys", rejection: .bodyTooLarge(limit: 10))
        #expect(response.status.code == 413)
        let body = try response.object()
        #expect(body["error"] == .string("Request body too large"))
        #expect(body["code"] == .string("PAYLOAD_TOO_LARGE"))
        #expect(body["details"]?.stringValue?.contains("10") == true)
        #expect(response.header("X-Request-Id") != nil)
    }

    @Test func paramsTooLargeIs431JSON() throws {
        let env = try TestEnvironment()
        let response = env.send("GET", "/api/health", rejection: .paramsTooLarge(limit: 8192))
        #expect(response.status.code == 431)
        #expect(try response.object()["error"] == .string("Request headers too large"))
    }

    @Test func incompleteBodyIs400() throws {
        let env = try TestEnvironment()
        let response = env.send("POST", "/api/user/api-keys", rejection: .bodyIncomplete)
        #expect(response.status.code == 400)
        #expect(try response.object()["error"] != nil)
    }

    // MARK: Request ids

    @Test func everyResponseHasARequestID() throws {
        let env = try TestEnvironment(rateLimit: 1)
        let (key, _) = try env.insertKey(userID: newUserID(), scopes: [.analytics])
        let responses = [
            env.get("/api/health"),
            env.get("/api/nope"),
            env.send("POST", "/api/health"),
            env.stats([:]),
            env.stats(["X-API-Key": "wak_bad"]),
            env.stats(["X-API-Key": key]),  // 403
            env.stats(["X-API-Key": key]),  // 429
            env.send("POST", "/api/user/api-keys", rejection: .bodyTooLarge(limit: 1)),
        ]
        var seen = Set<String>()
        for response in responses {
            let id = try #require(response.header("X-Request-Id"), "status \(response.status.code)")
            #expect(id.utf8.count == 16 && id.allSatisfy(\.isHexDigit), "\(id)")
            seen.insert(id)
        }
        #expect(responses.map(\.status.code) == [200, 404, 405, 401, 401, 403, 429, 413])
        #expect(seen.count == responses.count, "generated ids should differ")
    }

    @Test func saneIncomingRequestIDIsEchoed() throws {
        let env = try TestEnvironment()
        for id in ["abc-123_XYZ", "a", String(repeating: "z", count: 64)] {
            let response = env.get("/api/health", headers: ["X-Request-Id": id])
            #expect(response.header("X-Request-Id") == id)
        }
        // Echoed on errors too.
        #expect(env.stats(["X-Request-Id": "trace-1"]).header("X-Request-Id") == "trace-1")
    }

    @Test func unsafeIncomingRequestIDIsReplaced() throws {
        let env = try TestEnvironment()
        for id in ["", "has space", "new\nline", String(repeating: "z", count: 65), "ünïcode", "a;b"] {
            let response = env.get("/api/health", headers: ["X-Request-Id": id])
            let echoed = try #require(response.header("X-Request-Id"))
            #expect(echoed != id)
            #expect(echoed.utf8.count == 16)
        }
    }

    // MARK: Health

    @Test func healthNeedsNoAuth() throws {
        let env = try TestEnvironment()
        let response = env.get("/api/health")
        #expect(response.status.code == 200)
        #expect(try response.object() == ["status": .string("ok"), "version": .string("test"), "database": .string("ok")])
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
    }
}
