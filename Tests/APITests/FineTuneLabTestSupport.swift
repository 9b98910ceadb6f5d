import Foundation
import HTTPCore
import JSON
import Testing

/// A user of FineTune Lab's routes in a `TestEnvironment`: their API key, and requests as the SDK and the trainer send them.
struct FineTuneLabUser {
    let env: TestEnvironment
    let userID: String
    let key: [String: String]

    init(_ env: TestEnvironment, userID: String = newUserID()) throws {
        self.env = env
        self.userID = userID
        key = ["X-API-Key": try env.insertKey(userID: userID, scopes: [.training]).key]
    }

    /// `POST /api/training/local/jobs` with `body`; the answer's object.
    func register(_ body: String) -> Response {
        env.postJSON("/api/training/local/jobs", body, headers: key)
    }

    /// Registers `externalID` and returns the job's uuid and the trainer's bearer header.
    func job(_ externalID: String = "local_training_001", status: String = "running") throws -> (id: String, trainer: [String: String]) {
        let object = try register(#"{"job_id":"\#(externalID)","status":"\#(status)","model_name":"llama-3-8b"}"#).object()
        let token = try #require(object["job_token"]?.stringValue)
        return (try #require(object["id"]?.stringValue), ["Authorization": "Bearer \(token)"])
    }

    func send(_ method: String, _ path: String, _ body: String, headers: [String: String]) -> Response {
        env.send(method, path, headers: headers.merging(["Content-Type": "application/json"]) { $1 }, body: Array(body.utf8))
    }

    func get(_ path: String, query: String = "") throws -> [String: JSONValue] {
        let response = env.get(path, query: query, headers: key)
        #expect(response.status.code == 200, "\(path)?\(query): \(response.text)")
        return try response.object()
    }
}

/// A value shared between threads behind a lock.
final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
