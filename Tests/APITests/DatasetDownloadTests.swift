import API
import Domain
import Foundation
import HTTPCore
import Testing

/// The two dataset downloads in memory: the pool's answer is an empty body
/// with `X-Accel-Redirect` to nginx's internal location and the headers
/// nginx passes on; who may download what.
@Suite struct DatasetDownloadTests {
    static let chat = #"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}"#
    static let file = Array((Array(repeating: chat, count: 20).joined(separator: "\n") + "\n").utf8)

    let env: TestEnvironment
    let user = newUserID()
    let headers: [String: String]

    init() throws {
        env = try TestEnvironment()
        headers = ["X-API-Key": try env.insertKey(userID: user, scopes: [.datasets, .training]).key]
    }

    /// Stores a dataset named `name` (percent-encoded for the query) and returns its id and sha256.
    func upload(name: String) throws -> (id: String, sha256: String) {
        let response = env.sendStreamed(
            "POST", "/api/datasets", query: "name=\(name)", headers: headers.merging(["Content-Type": "application/x-ndjson"]) { $1 },
            body: Self.file)
        #expect(response.status == .created)
        let data = try #require(try response.object()["data"]?.dictionary)
        return (try #require(data["id"]?.stringValue), try #require(data["sha256"]?.stringValue))
    }

    /// Creates a job (on `dataset`, if given) and returns its id and token.
    func job(dataset: String?) throws -> (id: String, token: String) {
        let body = dataset.map { #"{"model_name":"m","dataset_id":"\#($0)"}"# } ?? #"{"model_name":"m"}"#
        let created = env.postJSON("/api/training/jobs", body, headers: headers)
        #expect(created.status == .created)
        let data = try #require(try created.object()["data"]?.dictionary)
        return (try #require(data["id"]?.stringValue), try #require(data["job_token"]?.stringValue))
    }

    func expectRedirect(_ response: Response, to id: String, sha256: String, filename: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == .ok, sourceLocation: sourceLocation)
        #expect(response.body.isEmpty, sourceLocation: sourceLocation)
        #expect(response.header("X-Accel-Redirect") == "/_ftapi/datasets/\(id).jsonl", sourceLocation: sourceLocation)
        #expect(response.header("ETag") == "\"\(sha256)\"", sourceLocation: sourceLocation)
        #expect(response.header("Content-Type") == "application/x-ndjson", sourceLocation: sourceLocation)
        #expect(response.header("Content-Disposition") == "attachment; filename=\"\(filename)\"", sourceLocation: sourceLocation)
    }

    @Test func contentRedirectsToTheStoredFileWithItsHeaders() throws {
        let dataset = try upload(name: "chat-v1")
        expectRedirect(
            env.get("/api/datasets/\(dataset.id)/content", headers: headers), to: dataset.id, sha256: dataset.sha256, filename: "chat-v1.jsonl")
        // A HEAD is a GET for the router; nginx sends the head only.
        let head = env.send("HEAD", "/api/datasets/\(dataset.id.uppercased())/content", headers: headers)
        expectRedirect(head, to: dataset.id, sha256: dataset.sha256, filename: "chat-v1.jsonl")
    }

    @Test func theFilenameIsMadeSafeForTheHeader() throws {
        // A quote, a backslash, é and 🚀: each character becomes one _ (names can't hold control characters).
        let dataset = try upload(name: "a%22b%5Ccd%C3%A9e%F0%9F%9A%80")
        let response = env.get("/api/datasets/\(dataset.id)/content", headers: headers)
        expectRedirect(response, to: dataset.id, sha256: dataset.sha256, filename: "a_b_cd_e_.jsonl")
    }

    @Test func ifNoneMatchWithTheETagIs304FromThePool() throws {
        let dataset = try upload(name: "cached")
        let etag = "\"\(dataset.sha256)\""
        for condition in [etag, "\"other\", \(etag)", "W/\(etag)", "*"] {
            let response = env.get("/api/datasets/\(dataset.id)/content", headers: headers.merging(["If-None-Match": condition]) { $1 })
            #expect(response.status.code == 304)
            #expect(response.header("ETag") == etag)
            #expect(response.header("X-Accel-Redirect") == nil)
            #expect(!String(decoding: response.serializedHead(), as: UTF8.self).contains("Content-Length"))
        }
        let other = env.get("/api/datasets/\(dataset.id)/content", headers: headers.merging(["If-None-Match": "\"other\""]) { $1 })
        expectRedirect(other, to: dataset.id, sha256: dataset.sha256, filename: "cached.jsonl")
    }

    @Test func contentIsTheOwnersOnlyAndNeedsTheDatasetsScope() throws {
        let dataset = try upload(name: "mine")
        let stranger = ["X-API-Key": try env.insertKey(userID: newUserID(), scopes: [.all]).key]
        #expect(env.get("/api/datasets/\(dataset.id)/content", headers: stranger).status == .notFound)
        #expect(env.get("/api/datasets/\(UUID().uuidString)/content", headers: headers).status == .notFound)
        let trainingOnly = ["X-API-Key": try env.insertKey(userID: user, scopes: [.training]).key]
        #expect(env.get("/api/datasets/\(dataset.id)/content", headers: trainingOnly).status == .forbidden)
        #expect(env.get("/api/datasets/\(dataset.id)/content").status == .unauthorized)
        let session = ["Authorization": "Bearer \(TestEnvironment.sessionToken(userID: user))"]
        expectRedirect(
            env.get("/api/datasets/\(dataset.id)/content", headers: session), to: dataset.id, sha256: dataset.sha256, filename: "mine.jsonl")
        // Gone from the store: 404 at once, whatever nginx may still be sending.
        #expect(env.send("DELETE", "/api/datasets/\(dataset.id)", headers: headers).status == .ok)
        #expect(env.get("/api/datasets/\(dataset.id)/content", headers: headers).status == .notFound)
    }

    @Test func aJobTokenReadsItsOwnJobsDatasetOnly() throws {
        let dataset = try upload(name: "train")
        let job = try job(dataset: dataset.id)
        let other = try self.job(dataset: dataset.id)
        let token = ["Authorization": "Bearer \(job.token)"]
        expectRedirect(
            env.get("/api/training/jobs/\(job.id)/dataset", headers: token), to: dataset.id, sha256: dataset.sha256, filename: "train.jsonl")
        #expect(env.get("/api/training/jobs/\(other.id)/dataset", headers: token).status == .unauthorized)
        #expect(env.get("/api/datasets/\(dataset.id)/content", headers: token).status == .unauthorized)
        // The owner's key with scope training, or a session, reads any of the owner's jobs.
        expectRedirect(
            env.get("/api/training/jobs/\(other.id)/dataset", headers: headers), to: dataset.id, sha256: dataset.sha256, filename: "train.jsonl")
        let session = ["Authorization": "Bearer \(TestEnvironment.sessionToken(userID: user))"]
        #expect(env.get("/api/training/jobs/\(other.id)/dataset", headers: session).status == .ok)
        let datasetsOnly = ["X-API-Key": try env.insertKey(userID: user, scopes: [.datasets]).key]
        #expect(env.get("/api/training/jobs/\(job.id)/dataset", headers: datasetsOnly).status == .forbidden)
    }

    @Test func anotherUsersJobOrAJobWithoutADatasetIs404() throws {
        let bare = try job(dataset: nil)
        let missing = env.get("/api/training/jobs/\(bare.id)/dataset", headers: headers)
        #expect(missing.status == .notFound)
        #expect(try missing.object()["code"] == .string("NOT_FOUND"))
        let dataset = try upload(name: "theirs")
        let job = try job(dataset: dataset.id)
        let stranger = ["X-API-Key": try env.insertKey(userID: newUserID(), scopes: [.training]).key]
        #expect(env.get("/api/training/jobs/\(job.id)/dataset", headers: stranger).status == .notFound)
        #expect(env.get("/api/training/jobs/\(UUID().uuidString)/dataset", headers: headers).status == .notFound)
    }

    @Test func aJobWhoseDatasetWasDeletedIs409() throws {
        let dataset = try upload(name: "gone")
        let job = try job(dataset: dataset.id)
        #expect(env.send("POST", "/api/training/jobs/\(job.id)/cancel", headers: headers).status == .ok)
        #expect(env.send("DELETE", "/api/datasets/\(dataset.id)", headers: headers).status == .ok)
        let response = env.get("/api/training/jobs/\(job.id)/dataset", headers: ["Authorization": "Bearer \(job.token)"])
        #expect(response.status == .conflict)
        #expect(try response.object()["code"] == .string("DATASET_DELETED"))
        #expect(response.header("X-Accel-Redirect") == nil)
    }
}
