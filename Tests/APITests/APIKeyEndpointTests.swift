import API
import Domain
import Essentials
import Foundation
import HTTPCore
import JSON
import Testing

@Suite("/api/user/api-keys")
struct APIKeyEndpointTests {
    let path = "/api/user/api-keys"

    /// Creates a key through the API and returns the response body's `data`.
    func create(
        _ env: TestEnvironment, user: String, name: String, scopes: [String]? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [String: JSONValue] {
        var fields: [(String, JSONValue)] = [("name", .string(name))]
        if let scopes { fields.append(("scopes", .array(scopes.map { .string($0) }))) }
        let response = env.postJSON(path, JWT.object(fields).jsonText, headers: env.sessionHeaders(userID: user))
        #expect(response.status.code == 201, "\(response.text)", sourceLocation: sourceLocation)
        let body = try response.object()
        let data = try #require(body["data"]?.dictionary, sourceLocation: sourceLocation)
        #expect(body["id"] == data["id"], sourceLocation: sourceLocation)
        return data
    }

    @Test func apiKeysCannotManageKeys() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let (key, record) = try env.insertKey(userID: user, scopes: [.all])
        let responses = [
            env.get(path, headers: ["X-API-Key": key]),
            env.postJSON(path, #"{"name":"x"}"#, headers: ["X-API-Key": key]),
            env.send("DELETE", path + "/" + record.id, headers: ["X-API-Key": key]),
            env.get(path, headers: ["Authorization": "Bearer " + key]),
        ]
        for response in responses {
            #expect(response.status.code == 403)
            let body = try response.object()
            #expect(body["error"] == .string("Insufficient scope"))
            #expect(body["code"] == .string("INSUFFICIENT_SCOPE"))
        }
        #expect(try env.store.apiKeys.list(userID: user, limit: 10, offset: 0).total == 1)
        #expect(env.stats(["X-API-Key": key]).status.code == 200, "the key was not revoked")
    }

    @Test func withoutCredentialIs401() throws {
        let env = try TestEnvironment()
        #expect(env.get(path).status.code == 401)
        #expect(env.postJSON(path, #"{"name":"x"}"#).status.code == 401)
    }

    @Test func createReturnsTheKeyOnceAndItWorks() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let data = try create(env, user: user, name: "ci")
        let key = try #require(data["key"]?.stringValue)
        #expect(APIKeyFormat.isWellFormed(key))
        #expect(data["key_prefix"] == .string(String(key.prefix(12))))
        #expect(data["scopes"] == .array([.string("all")]))
        #expect(data["name"] == .string("ci"))
        #expect(data["request_count"] == .int(0))
        #expect(data["last_used_at"] == .null)
        let id = try #require(data["id"]?.stringValue)
        #expect(canonicalUUID(id) == id)
        let createdAt = try #require(data["created_at"]?.stringValue)
        #expect(Timestamp(iso8601: createdAt) != nil)
        #expect(createdAt.hasSuffix("Z") && !createdAt.contains("."))
        #expect(data["key_hash"] == nil && data["hash"] == nil)

        // The new key works for the user who created it.
        try env.store.trainingJobs.insert([TrainingJob(id: newUserID(), userID: user, modelName: "m", status: .failed, createdAt: .now())])
        let stats = env.stats(["X-API-Key": key])
        #expect(stats.status.code == 200)
        #expect(try stats.object()["failed"] == .int(1))

        // Only the hash is stored.
        let stored = try #require(try env.store.apiKeys.find(keyHash: APIKeyFormat.hash(key)))
        #expect(stored.id == id)
        #expect(stored.userID == user)
        #expect(stored.keyHash != key)
    }

    @Test func createWithScopes() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let data = try create(env, user: user, name: "analytics", scopes: ["analytics", "datasets", "analytics"])
        #expect(data["scopes"] == .array([.string("analytics"), .string("datasets")]))
        let key = try #require(data["key"]?.stringValue)
        #expect(env.stats(["X-API-Key": key]).status.code == 403)

        let training = try create(env, user: user, name: "training", scopes: ["training"])
        #expect(env.stats(["X-API-Key": try #require(training["key"]?.stringValue)]).status.code == 200)
    }

    @Test func listNeverShowsKeyOrHash() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let created = try create(env, user: user, name: "listed")
        let key = try #require(created["key"]?.stringValue)

        let response = env.get(path, headers: env.sessionHeaders(userID: user))
        #expect(response.status.code == 200)
        let body = try response.object()
        #expect(body["total"] == .int(1))
        #expect(body["limit"] == .int(50))
        #expect(body["offset"] == .int(0))
        let items = try #require(body["data"]?.arrayValue)
        #expect(items.count == 1)
        let item = try #require(items.first?.dictionary)
        #expect(item["id"] == created["id"])
        #expect(item["name"] == .string("listed"))
        #expect(item["key_prefix"] == .string(String(key.prefix(12))))
        #expect(item["key"] == nil)
        #expect(!item.keys.contains { $0.contains("hash") })
        #expect(Set(item.keys) == ["id", "name", "key_prefix", "scopes", "created_at", "last_used_at", "request_count"])
        #expect(!response.text.contains(key))
        #expect(!response.text.contains(APIKeyFormat.hash(key)))
    }

    @Test func listShowsOnlyOwnActiveKeys() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        _ = try create(env, user: user, name: "mine")
        try env.insertKey(userID: user, name: "revoked", revoked: true)
        try env.insertKey(userID: newUserID(), name: "theirs")
        let body = try env.get(path, headers: env.sessionHeaders(userID: user)).object()
        #expect(body["total"] == .int(1))
        #expect(body["data"]?.arrayValue?.compactMap { $0.dictionary?["name"] } == [.string("mine")])
    }

    @Test func duplicateNameIs409() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        _ = try create(env, user: user, name: "dup")
        let response = env.postJSON(path, #"{"name":"dup"}"#, headers: env.sessionHeaders(userID: user))
        #expect(response.status.code == 409)
        #expect(try response.object()["code"] == .string("DUPLICATE_NAME"))
        // Another user may use the same name.
        _ = try create(env, user: newUserID(), name: "dup")
    }

    @Test func nameCanBeReusedAfterRevocation() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let first = try create(env, user: user, name: "rotate")
        let id = try #require(first["id"]?.stringValue)
        #expect(env.send("DELETE", path + "/" + id, headers: env.sessionHeaders(userID: user)).status.code == 200)
        _ = try create(env, user: user, name: "rotate")
    }

    @Test(arguments: [
        (#"{"name":"x","scopes":["admin"]}"#, "VALIDATION_ERROR"),
        (#"{"name":"x","scopes":["ALL"]}"#, "VALIDATION_ERROR"),
        (#"{"name":"x","scopes":[]}"#, "VALIDATION_ERROR"),
        (#"{"name":"x","scopes":"all"}"#, "VALIDATION_ERROR"),
        (#"{"name":"x","scopes":[1]}"#, "VALIDATION_ERROR"),
        (#"{"scopes":["all"]}"#, "VALIDATION_ERROR"),
        (#"{"name":""}"#, "VALIDATION_ERROR"),
        (#"{"name":"   "}"#, "VALIDATION_ERROR"),
        (#"{"name":42}"#, "VALIDATION_ERROR"),
        (#"{"name":"x","extra":true}"#, "VALIDATION_ERROR"),
        (#"[{"name":"x"}]"#, "VALIDATION_ERROR"),
        (#""name""#, "VALIDATION_ERROR"),
        (#"{"name":"x""#, "INVALID_JSON"),
        (#"{name:"x"}"#, "INVALID_JSON"),
        (#"{"name":"x"} trailing"#, "INVALID_JSON"),
        (#"{"name":"x","name":"y"}"#, "INVALID_JSON"),
    ])
    func invalidBodiesAre400(_ body: String, _ code: String) throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let response = env.postJSON(path, body, headers: env.sessionHeaders(userID: user))
        #expect(response.status.code == 400, "\(body): \(response.text)")
        let object = try response.object()
        #expect(object["code"] == .string(code), "\(body): \(response.text)")
        #expect(object["error"]?.stringValue?.isEmpty == false)
        #expect(try env.store.apiKeys.list(userID: user, limit: 10, offset: 0).total == 0)
    }

    @Test func unknownScopeDetailsNameIt() throws {
        let env = try TestEnvironment()
        let response = env.postJSON(path, #"{"name":"x","scopes":["admin"]}"#, headers: env.sessionHeaders(userID: newUserID()))
        #expect(response.status.code == 400)
        #expect(try response.object()["details"]?.stringValue?.contains("admin") == true)
    }

    @Test func emptyBodyIs400() throws {
        let env = try TestEnvironment()
        let response = env.postJSON(path, "", headers: env.sessionHeaders(userID: newUserID()))
        #expect(response.status.code == 400)
    }

    @Test func contentTypeMustBeJSON() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let response = env.postJSON(path, #"{"name":"x"}"#, headers: env.sessionHeaders(userID: user), contentType: type)
            #expect(response.status.code == 415, "\(type)")
            #expect(try response.object()["error"] != nil)
        }
        for type in ["application/json; charset=utf-8", "Application/JSON"] {
            let response = env.postJSON(
                path, JWT.object([("name", .string(type))]).jsonText, headers: env.sessionHeaders(userID: user), contentType: type)
            #expect(response.status.code == 201, "\(type)")
        }
        #expect(try env.store.apiKeys.list(userID: user, limit: 10, offset: 0).total == 2)
    }

    @Test func deleteRevokesAtOnce() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let data = try create(env, user: user, name: "short-lived")
        let key = try #require(data["key"]?.stringValue)
        let id = try #require(data["id"]?.stringValue)
        #expect(env.stats(["X-API-Key": key]).status.code == 200)

        let response = env.send("DELETE", path + "/" + id, headers: env.sessionHeaders(userID: user))
        #expect(response.status.code == 200)
        let body = try response.object()
        #expect(body["success"] == .bool(true))
        #expect(body["message"]?.stringValue?.isEmpty == false)

        let after = env.stats(["X-API-Key": key])
        #expect(after.status.code == 401)
        #expect(try after.object() == errorBody("Unauthorized"))
        #expect(try env.get(path, headers: env.sessionHeaders(userID: user)).object()["total"] == .int(0))

        // Deleting again: nothing to revoke.
        #expect(env.send("DELETE", path + "/" + id, headers: env.sessionHeaders(userID: user)).status.code == 404)
    }

    @Test func deletingSomeoneElsesKeyIs404() throws {
        let env = try TestEnvironment()
        let owner = newUserID()
        let data = try create(env, user: owner, name: "owned")
        let key = try #require(data["key"]?.stringValue)
        let id = try #require(data["id"]?.stringValue)

        let response = env.send("DELETE", path + "/" + id, headers: env.sessionHeaders(userID: newUserID()))
        #expect(response.status.code == 404)
        #expect(try response.object() == errorBody("Not found", code: "NOT_FOUND"))
        #expect(env.stats(["X-API-Key": key]).status.code == 200)

        // Unknown ids are the same 404.
        let unknown = env.send("DELETE", path + "/" + newUserID(), headers: env.sessionHeaders(userID: owner))
        #expect(unknown.status.code == 404)
    }

    @Test func listPagination() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        // Distinct creation times so "newest first" is well defined.
        for index in 0..<5 {
            try env.insertKey(userID: user, name: "k\(index)", createdAt: Timestamp(millisecondsSinceEpoch: 1_766_000_000_000 + Int64(index) * 1000))
        }
        let headers = env.sessionHeaders(userID: user)
        func names(_ query: String) throws -> (names: [String], body: [String: JSONValue]) {
            let response = env.get(path, query: query, headers: headers)
            #expect(response.status.code == 200, "\(query): \(response.text)")
            let body = try response.object()
            let names = body["data"]?.arrayValue?.compactMap { $0.dictionary?["name"]?.stringValue } ?? []
            return (names, body)
        }

        let all = try names("")
        #expect(all.names == ["k4", "k3", "k2", "k1", "k0"])

        let first = try names("limit=2")
        #expect(first.names == ["k4", "k3"])
        #expect(first.body["total"] == .int(5))
        #expect(first.body["limit"] == .int(2))
        #expect(first.body["offset"] == .int(0))

        let second = try names("limit=2&offset=2")
        #expect(second.names == ["k2", "k1"])
        #expect(second.body["offset"] == .int(2))

        let last = try names("limit=2&offset=4")
        #expect(last.names == ["k0"])
        #expect(last.body["total"] == .int(5))

        #expect(try names("offset=10").names.isEmpty)
        #expect(try names("limit=200").names.count == 5)
        #expect(try names("limit=1").names == ["k4"])
    }

    @Test(arguments: ["limit=0", "limit=201", "limit=-1", "limit=abc", "limit=", "offset=-1", "offset=x", "limit=1.5"])
    func outOfRangePaginationIs400(_ query: String) throws {
        let env = try TestEnvironment()
        let response = env.get(path, query: query, headers: env.sessionHeaders(userID: newUserID()))
        #expect(response.status.code == 400)
        let body = try response.object()
        #expect(body["code"] == .string("VALIDATION_ERROR"))
        let name = String(query.prefix { $0 != "=" })
        #expect(body["details"]?.stringValue?.contains(name) == true)
    }

    @Test func keyNamesWithControlCharactersAreRefused() throws {
        let env = try TestEnvironment()
        let session = env.sessionHeaders(userID: newUserID())
        for name in ["a\\u0000b", "two\\nlines", "tab\\there"] {
            let response = env.postJSON("/api/user/api-keys", #"{"name":"\#(name)","scopes":["training"]}"#, headers: session)
            #expect(response.status.code == 400, "\(name)")
            #expect(response.text.contains("name must not contain control characters"), "\(response.text)")
        }
        #expect(env.postJSON("/api/user/api-keys", #"{"name":"ok name","scopes":["training"]}"#, headers: session).status.code == 201)
    }
}
