import API
import Domain
import Foundation
import HTTPCore
import JSON
import Testing

/// Metrics ingest and listing, in memory.
@Suite struct TrainingMetricsTests {
    private func job(_ env: TestEnvironment, _ headers: [String: String]) throws -> (id: String, trainer: [String: String]) {
        let response = env.postJSON("/api/training/jobs", #"{"model_name":"m"}"#, headers: headers)
        let object = try response.object()
        let token = try #require(object["data"]?.dictionary?["job_token"]?.stringValue)
        return (try #require(object["id"]?.stringValue), ["Authorization": "Bearer \(token)"])
    }

    private func post(_ env: TestEnvironment, _ id: String, _ body: String, _ headers: [String: String]) -> Response {
        env.postJSON("/api/training/jobs/\(id)/metrics", body, headers: headers)
    }

    private func jobData(_ env: TestEnvironment, _ id: String, _ headers: [String: String]) throws -> [String: JSONValue] {
        try #require(try env.get("/api/training/jobs/\(id)", headers: headers).object()["data"]?.dictionary)
    }

    @Test func everyStepLikeIntegerHasOneBound() throws {
        let env = try TestEnvironment()
        let session = env.sessionHeaders(userID: newUserID())
        let (id, trainer) = try job(env, session)
        let past = Int64(Int32.max) + 1
        let huge = post(env, id, #"{"metrics":[{"step":1},{"step":\#(past)}]}"#, trainer)
        #expect(huge.status.code == 400)
        #expect(huge.text.contains("metrics[1].step must be an integer from 0 to 2147483647"), "\(huge.text)")
        #expect(try env.get("/api/training/jobs/\(id)/metrics", headers: session).object()["total"] == .int(0), "nothing was stored")
        #expect(post(env, id, #"{"metrics":[{"step":2147483647}]}"#, trainer).status.code == 200)
        let since = env.get("/api/training/jobs/\(id)/metrics", query: "since_step=\(past)", headers: session)
        #expect(since.status.code == 400)
        #expect(since.text.contains("since_step"))
        let patch = env.send(
            "PATCH", "/api/training/jobs/\(id)", headers: session.merging(["Content-Type": "application/json"]) { $1 },
            body: Array(#"{"current_step":\#(past)}"#.utf8))
        #expect(patch.status.code == 400)
        #expect(patch.text.contains("current_step"))
    }

    @Test func firstPointsStartTheJobAndTheJobFollowsTheNewest() throws {
        let env = try TestEnvironment()
        let session = env.sessionHeaders(userID: newUserID())
        let (id, trainer) = try job(env, session)
        let response = post(
            env, id, #"{"metrics":[{"step":1,"train_loss":2.5},{"step":2,"train_loss":2.0,"eval_loss":2.2,"timestamp":"2025-12-19T10:04:05Z"}]}"#,
            trainer)
        #expect(response.status.code == 200, "\(response.text)")
        #expect(try response.object() == ["success": .bool(true), "accepted": .int(2)])
        var data = try jobData(env, id, session)
        #expect(data["status"] == .string("running"))
        #expect(data["started_at"]?.stringValue != nil)
        #expect(data["current_step"] == .int(2))
        #expect(data["train_loss"] == .double(2.0))
        #expect(data["eval_loss"] == .double(2.2))
        #expect(data["best_eval_loss"] == .double(2.2))

        // A later batch without eval keeps the last eval; a better eval lowers the best.
        #expect(post(env, id, #"{"metrics":[{"step":3,"train_loss":1.5}]}"#, trainer).status.code == 200)
        #expect(post(env, id, #"{"metrics":[{"step":4,"eval_loss":1.1},{"step":5,"eval_loss":1.4}]}"#, trainer).status.code == 200)
        data = try jobData(env, id, session)
        #expect(data["current_step"] == .int(5))
        #expect(data["train_loss"] == .double(1.5))
        #expect(data["eval_loss"] == .double(1.4))
        #expect(data["best_eval_loss"] == .double(1.1))
    }

    @Test func aResentStepReplacesThePoint() throws {
        let env = try TestEnvironment()
        let session = env.sessionHeaders(userID: newUserID())
        let (id, trainer) = try job(env, session)
        #expect(post(env, id, #"{"metrics":[{"step":7,"train_loss":3.0,"eval_loss":0.5}]}"#, trainer).status.code == 200)
        #expect(post(env, id, #"{"metrics":[{"step":7,"train_loss":2.0,"eval_loss":0.9}]}"#, trainer).status.code == 200)
        let list = try env.get("/api/training/jobs/\(id)/metrics", headers: session).object()
        #expect(list["total"] == .int(1))
        let point = try #require(list["data"]?.arrayValue?.first?.dictionary)
        #expect(point["train_loss"] == .double(2.0))
        #expect(try jobData(env, id, session)["best_eval_loss"] == .double(0.9))
    }

    @Test func badBatchesAre400NamingIndexAndFieldAndStoreNothing() throws {
        let env = try TestEnvironment()
        let session = env.sessionHeaders(userID: newUserID())
        let (id, trainer) = try job(env, session)
        let cases: [(String, String)] = [
            (#"{"metrics":[{"step":1},{"step":2,"train_loss":NaN}]}"#, "metrics[1].train_loss"),
            (#"{"metrics":[{"step":1,"eval_loss":Infinity}]}"#, "metrics[0].eval_loss"),
            (#"{"metrics":[{"step":1},{"step":2},{"step":3,"grad_norm":-Infinity}]}"#, "metrics[2].grad_norm"),
            (#"{"metrics":[{"step":1,"learning_rate":1e999}]}"#, "metrics[0].learning_rate"),
            (#"{"metrics":[{"step":1,"train_loss":"low"}]}"#, "metrics[0].train_loss"),
            (#"{"metrics":[{"step":-1}]}"#, "metrics[0].step"),
            (#"{"metrics":[{"step":1.5}]}"#, "metrics[0].step"),
            (#"{"metrics":[{"train_loss":1}]}"#, "metrics[0].step"),
            (#"{"metrics":[{"step":1,"loss":1}]}"#, "metrics[0].loss"),
            (#"{"metrics":[{"step":1,"timestamp":"yesterday"}]}"#, "metrics[0].timestamp"),
            (#"{"metrics":[5]}"#, "metrics[0]"),
            (#"{"metrics":[]}"#, "metrics"),
            (#"{"metrics":{}}"#, "metrics"),
        ]
        for (body, field) in cases {
            let response = post(env, id, body, trainer)
            #expect(response.status.code == 400, "\(body)")
            #expect(try response.object()["details"]?.stringValue?.contains(field) == true, "\(body): \(response.text)")
        }
        let tooMany = "{\"metrics\":[" + (0...1000).map { "{\"step\":\($0)}" }.joined(separator: ",") + "]}"
        #expect(post(env, id, tooMany, trainer).status.code == 400)
        #expect(try env.get("/api/training/jobs/\(id)/metrics", headers: session).object()["total"] == .int(0))
        #expect(try jobData(env, id, session)["status"] == .string("pending"))
    }

    @Test func terminalJobsRefuseMetricsWith409() throws {
        let env = try TestEnvironment()
        let session = env.sessionHeaders(userID: newUserID())
        let (id, trainer) = try job(env, session)
        #expect(env.postJSON("/api/training/jobs/\(id)/cancel", "", headers: session, contentType: nil).status.code == 200)
        let response = post(env, id, #"{"metrics":[{"step":1,"train_loss":1}]}"#, trainer)
        #expect(response.status.code == 409)
        #expect(try env.get("/api/training/jobs/\(id)/metrics", headers: session).object()["total"] == .int(0))
    }

    @Test func listIsOrderedBySinceStepAndHasPerplexity() throws {
        let env = try TestEnvironment()
        let session = env.sessionHeaders(userID: newUserID())
        let (id, trainer) = try job(env, session)
        let points = [5, 1, 3, 2, 4].map { #"{"step":\#($0),"eval_loss":\#(Double($0) / 10)}"# } + [#"{"step":6,"eval_loss":150}"#]
        #expect(post(env, id, #"{"metrics":[\#(points.joined(separator: ","))]}"#, trainer).status.code == 200)

        let all = try env.get("/api/training/jobs/\(id)/metrics", headers: session).object()
        let steps = try #require(all["data"]?.arrayValue).compactMap { $0.dictionary?["step"]?.intValue }
        #expect(steps == [1, 2, 3, 4, 5, 6])
        #expect(all["limit"] == .int(1000))
        let first = try #require(all["data"]?.arrayValue?.first?.dictionary)
        guard case .double(let perplexity)? = first["perplexity"] else {
            Issue.record("no perplexity")
            return
        }
        #expect(abs(perplexity - exp(0.1)) < 1e-9)
        #expect(all["data"]?.arrayValue?.last?.dictionary?["perplexity"] == .null)

        let since = try env.get("/api/training/jobs/\(id)/metrics", query: "since_step=3", headers: session).object()
        #expect(try #require(since["data"]?.arrayValue).compactMap { $0.dictionary?["step"]?.intValue } == [4, 5, 6])
        #expect(since["total"] == .int(3))
        #expect(env.get("/api/training/jobs/\(id)/metrics", query: "limit=5001", headers: session).status.code == 400)
        #expect(env.get("/api/training/jobs/\(id)/metrics", query: "since_step=x", headers: session).status.code == 400)
        // Trainers report; they don't read.
        #expect(env.get("/api/training/jobs/\(id)/metrics", headers: trainer).status.code == 401)
        #expect(env.get("/api/training/jobs/\(id)/metrics", headers: env.sessionHeaders(userID: newUserID())).status.code == 404)
    }
}
