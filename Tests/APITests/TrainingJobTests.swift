import API
import Domain
import Foundation
import HTTPCore
import JSON
import Testing

/// The job lifecycle endpoints, in memory.
@Suite struct TrainingJobTests {
    /// Creates a job through the API and returns (id, job token, data).
    private func create(
        _ env: TestEnvironment, _ headers: [String: String],
        body: String = #"{"model_name":"llama","config":{"lr":0.0001,"layers":[1,2]},"total_steps":100}"#
    ) throws -> (String, String, [String: JSONValue]) {
        let response = env.postJSON("/api/training/jobs", body, headers: headers)
        #expect(response.status.code == 201, "\(response.text)")
        let object = try response.object()
        let data = try #require(object["data"]?.dictionary)
        return (try #require(object["id"]?.stringValue), try #require(data["job_token"]?.stringValue), data)
    }

    private func patch(_ env: TestEnvironment, _ id: String, _ body: String, headers: [String: String]) -> Response {
        env.send("PATCH", "/api/training/jobs/\(id)", headers: headers.merging(["Content-Type": "application/json"]) { $1 }, body: Array(body.utf8))
    }

    @Test func createReturnsEveryFieldAndATokenOnce() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let headers = env.sessionHeaders(userID: user)
        let (id, token, data) = try create(env, headers)
        #expect(token.hasPrefix("wjt_") && token.count == 47)
        #expect(
            Set(data.keys) == [
                "id", "user_id", "model_name", "dataset_id", "status", "config", "progress", "current_step", "total_steps", "current_epoch",
                "total_epochs", "train_loss", "eval_loss", "best_eval_loss", "error_message", "resumed_from_job_id", "created_at",
                "updated_at", "started_at", "completed_at", "job_token", "external_id", "dataset_path", "agent_id", "claimed_at", "attempts",
            ])
        #expect(data["status"] == .string("pending"))
        #expect(data["user_id"] == .string(user))
        #expect(data["total_steps"] == .int(100))
        #expect(data["dataset_id"] == .null)
        #expect(data["config"]?.dictionary?["layers"] == .array([.int(1), .int(2)]))

        let fetched = env.get("/api/training/jobs/\(id)", headers: headers)
        #expect(fetched.status.code == 200)
        let fetchedData = try #require(try fetched.object()["data"]?.dictionary)
        #expect(fetchedData["job_token"] == nil)
        #expect(fetchedData["config"]?.dictionary?["lr"] == .double(0.0001))
        #expect(!fetched.text.contains(JobToken.hash(token)))
    }

    @Test func badBodiesAre400AndStoreNothing() throws {
        let env = try TestEnvironment()
        let headers = env.sessionHeaders(userID: newUserID())
        for body in [
            "{}", #"{"model_name":""}"#, #"{"model_name":"\#(String(repeating: "m", count: 201))"}"#, #"{"model_name":5}"#,
            #"{"model_name":"m","config":[1]}"#, #"{"model_name":"m","total_steps":0}"#, #"{"model_name":"m","total_steps":1.5}"#,
            #"{"model_name":"m","dataset_id":"00000000-0000-4000-8000-000000000000"}"#, #"{"model_name":"m","surprise":1}"#, "[]",
        ] {
            #expect(env.postJSON("/api/training/jobs", body, headers: headers).status.code == 400, "\(body)")
        }
        let list = try env.get("/api/training/jobs", headers: headers).object()
        #expect(list["total"] == .int(0))
    }

    @Test func listFiltersPagesNewestFirstAndHidesOtherUsers() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let base = Timestamp.now().millisecondsSinceEpoch
        var jobs: [TrainingJob] = []
        for index in 0..<7 {
            jobs.append(
                TrainingJob(
                    id: UUID().uuidString.lowercased(), userID: user, modelName: index % 2 == 0 ? "a" : "b",
                    status: index < 3 ? .completed : .pending, createdAt: Timestamp(millisecondsSinceEpoch: base + Int64(index / 2) * 1000)
                ))
        }
        jobs.append(TrainingJob(id: UUID().uuidString.lowercased(), userID: newUserID(), modelName: "a", createdAt: .now()))
        try env.store.trainingJobs.insert(jobs)
        let headers = env.sessionHeaders(userID: user)

        let all = try env.get("/api/training/jobs", headers: headers).object()
        #expect(all["total"] == .int(7))
        let ids = try #require(all["data"]?.arrayValue).compactMap { $0.dictionary?["id"]?.stringValue }
        let expected = jobs.prefix(7).sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }.map(\.id)
        #expect(ids == expected)

        var paged: [String] = []
        for offset in stride(from: 0, to: 7, by: 3) {
            let page = try env.get("/api/training/jobs", query: "limit=3&offset=\(offset)", headers: headers).object()
            paged += try #require(page["data"]?.arrayValue).compactMap { $0.dictionary?["id"]?.stringValue }
        }
        #expect(paged == expected)

        #expect(try env.get("/api/training/jobs", query: "status=completed", headers: headers).object()["total"] == .int(3))
        #expect(try env.get("/api/training/jobs", query: "model_name=b", headers: headers).object()["total"] == .int(3))
        #expect(try env.get("/api/training/jobs", query: "status=pending&model_name=a", headers: headers).object()["total"] == .int(2))
        #expect(env.get("/api/training/jobs", query: "status=sleeping", headers: headers).status.code == 400)
        #expect(env.get("/api/training/jobs", query: "limit=201", headers: headers).status.code == 400)
    }

    @Test func anotherUsersJobIs404Everywhere() throws {
        let env = try TestEnvironment()
        let owner = env.sessionHeaders(userID: newUserID())
        let stranger = env.sessionHeaders(userID: newUserID())
        let (id, _, _) = try create(env, owner)
        #expect(env.get("/api/training/jobs/\(id)", headers: stranger).status.code == 404)
        #expect(env.postJSON("/api/training/jobs/\(id)/cancel", "", headers: stranger, contentType: nil).status.code == 404)
        #expect(env.postJSON("/api/training/jobs/\(id)/restart", "", headers: stranger, contentType: nil).status.code == 404)
        #expect(patch(env, id, #"{"progress":5}"#, headers: stranger).status.code == 404)
        #expect(try env.get("/api/training/jobs/\(id)", headers: owner).object()["data"]?.dictionary?["progress"] == .double(0))
    }

    @Test func stateMachineFollowsTheContract() throws {
        let env = try TestEnvironment()
        let headers = env.sessionHeaders(userID: newUserID())
        let legal: Set<String> = [
            "pending>running", "pending>cancelled", "running>paused", "paused>running", "running>completed", "running>failed",
            "running>cancelled", "paused>cancelled",
        ]
        let paths: [JobStatus: [JobStatus]] = [
            .pending: [], .running: [.running], .paused: [.running, .paused], .completed: [.running, .completed],
            .failed: [.running, .failed], .cancelled: [.cancelled],
        ]
        for (from, steps) in paths {
            for to in JobStatus.allCases where to != from {
                let (id, _, _) = try create(env, headers)
                for step in steps {
                    #expect(patch(env, id, #"{"status":"\#(step.rawValue)"}"#, headers: headers).status.code == 200)
                }
                let response = patch(env, id, #"{"status":"\#(to.rawValue)"}"#, headers: headers)
                if legal.contains("\(from.rawValue)>\(to.rawValue)") {
                    #expect(response.status.code == 200, "\(from) → \(to): \(response.text)")
                } else {
                    #expect(response.status.code == 409, "\(from) → \(to)")
                    let body = try response.object()
                    #expect(body["code"] == .string("INVALID_STATUS_TRANSITION"))
                    #expect(body["error"]?.stringValue?.contains(from.rawValue) == true)
                }
            }
        }
    }

    @Test func timestampsFollowTheStatus() throws {
        let env = try TestEnvironment()
        let headers = env.sessionHeaders(userID: newUserID())
        let (id, token, _) = try create(env, headers)
        let trainer = ["Authorization": "Bearer \(token)"]
        let running = try #require(
            try patch(env, id, #"{"status":"running","current_step":3,"progress":1.5}"#, headers: trainer).object()["data"]?.dictionary)
        #expect(running["started_at"]?.stringValue != nil)
        #expect(running["completed_at"] == .null)
        #expect(running["current_step"] == .int(3))
        #expect(running["progress"] == .double(1.5))
        let failed = try #require(
            try patch(env, id, #"{"status":"failed","error_message":"CUDA OOM"}"#, headers: trainer).object()["data"]?.dictionary)
        #expect(failed["completed_at"]?.stringValue != nil)
        #expect(failed["started_at"] == running["started_at"])
        #expect(failed["error_message"] == .string("CUDA OOM"))
        #expect(patch(env, id, #"{"progress":101}"#, headers: trainer).status.code == 400)
        #expect(patch(env, id, #"{"current_step":-1}"#, headers: trainer).status.code == 400)
        #expect(patch(env, id, #"{"status":"sleeping"}"#, headers: trainer).status.code == 400)
    }

    @Test func cancelAndRestart() throws {
        let env = try TestEnvironment()
        let headers = env.sessionHeaders(userID: newUserID())
        let (id, _, _) = try create(env, headers)
        #expect(env.postJSON("/api/training/jobs/\(id)/restart", "", headers: headers, contentType: nil).status.code == 409)
        let cancelled = env.postJSON("/api/training/jobs/\(id)/cancel", "", headers: headers, contentType: nil)
        #expect(cancelled.status.code == 200)
        #expect(try cancelled.object()["success"] == .bool(true))
        let again = env.postJSON("/api/training/jobs/\(id)/cancel", "", headers: headers, contentType: nil)
        #expect(again.status.code == 409)
        #expect(try again.object()["code"] == .string("INVALID_STATUS_TRANSITION"))

        let restarted = env.postJSON("/api/training/jobs/\(id)/restart", "", headers: headers, contentType: nil)
        #expect(restarted.status.code == 201)
        let data = try #require(try restarted.object()["data"]?.dictionary)
        #expect(data["status"] == .string("pending"))
        #expect(data["resumed_from_job_id"] == .string(id))
        #expect(data["model_name"] == .string("llama"))
        #expect(data["config"]?.dictionary?["lr"] == .double(0.0001))
        #expect(data["job_token"]?.stringValue?.hasPrefix("wjt_") == true)
        #expect(data["id"] != .string(id))
    }

    @Test func jobTokensWorkOnlyForTheirJobsTrainerRoutes() throws {
        let env = try TestEnvironment()
        let headers = env.sessionHeaders(userID: newUserID())
        let (id, token, _) = try create(env, headers)
        let (otherID, _, _) = try create(env, headers)
        let trainer = ["Authorization": "Bearer \(token)"]

        #expect(patch(env, id, #"{"status":"running"}"#, headers: trainer).status.code == 200)
        #expect(patch(env, otherID, #"{"status":"running"}"#, headers: trainer).status.code == 401)
        #expect(env.get("/api/training/jobs/\(id)", headers: trainer).status.code == 401)
        #expect(env.stats(trainer).status.code == 401)
        #expect(env.postJSON("/api/training/jobs/\(id)/cancel", "", headers: trainer, contentType: nil).status.code == 401)
        #expect(env.get("/api/user/api-keys", headers: trainer).status.code == 401)
        // A forged token of the right shape is refused.
        let forged = "wjt_" + String(token.dropFirst(4).reversed())
        #expect(patch(env, id, #"{"progress":1}"#, headers: ["Authorization": "Bearer \(forged)"]).status.code == 401)
        // API keys need the training scope for PATCH, as for every training route.
        let (analytics, _) = try env.insertKey(userID: newUserID(), scopes: [.analytics])
        #expect(patch(env, id, #"{"progress":1}"#, headers: ["X-API-Key": analytics]).status.code == 403)
    }
}
