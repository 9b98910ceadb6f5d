import Foundation
import Testing

/// Every training endpoint and its error paths, through nginx and the pool.
@Suite("training endpoints through nginx", .serialized)
struct TrainingEndpointsTests {
    @Test func jobsMetricsAndAggregateEndToEnd() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = ["X-API-Key": try cluster.createKey(user: user, scopes: "training")]
        let otherKey = ["X-API-Key": try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")]
        let noScope = ["X-API-Key": try cluster.createKey(user: user, scopes: "analytics")]
        let client = cluster.client()

        // Create, read, list.
        let created = try client.postJSON("/api/training/jobs", #"{"model_name":"llama-3-8b","config":{"lr":0.0002},"total_steps":10}"#, headers: key)
        #expect(created.status == 201)
        let id = try #require(created.json["id"] as? String)
        let jobToken = try #require((created.json["data"] as? [String: Any])?["job_token"] as? String)
        let trainer = ["Authorization": "Bearer \(jobToken)", "Content-Type": "application/json"]
        #expect(try client.get("/api/training/jobs/\(id)", headers: key).status == 200)
        #expect(try client.get("/api/training/jobs/\(id)", headers: otherKey).status == 404)
        #expect(try client.get("/api/training/jobs/not-a-uuid", headers: key).status == 404)
        #expect(try client.get("/api/training/jobs", headers: noScope).status == 403)
        #expect(try client.get("/api/training/jobs").status == 401)
        let list = try client.get("/api/training/jobs?status=pending&limit=10", headers: key)
        #expect(list.json["total"] as? Int == 1)
        #expect(try client.get("/api/training/jobs?status=bogus", headers: key).status == 400)
        #expect(try client.send("PUT", "/api/training/jobs/\(id)", headers: key).status == 405)

        // The trainer reports; the first metrics start the job.
        let metrics =
            #"{"metrics":[{"step":1,"train_loss":2.0,"eval_loss":1.9,"samples_per_second":12.5},{"step":2,"train_loss":1.5,"eval_loss":1.2}]}"#
        let ingest = try client.send("POST", "/api/training/jobs/\(id)/metrics", headers: trainer, body: Array(metrics.utf8))
        #expect(ingest.status == 200)
        #expect(ingest.json["accepted"] as? Int == 2)
        let job = try client.get("/api/training/jobs/\(id)", headers: key).json["data"] as? [String: Any]
        #expect(job?["status"] as? String == "running")
        #expect(job?["current_step"] as? Int == 2)
        #expect(job?["best_eval_loss"] as? Double == 1.2)
        let nan = try client.send(
            "POST", "/api/training/jobs/\(id)/metrics", headers: trainer, body: Array(#"{"metrics":[{"step":3,"train_loss":NaN}]}"#.utf8))
        #expect(nan.status == 400)
        #expect((nan.json["details"] as? String)?.contains("metrics[0].train_loss") == true)
        let polled = try client.get("/api/training/jobs/\(id)/metrics?since_step=1", headers: key)
        #expect((polled.json["data"] as? [[String: Any]])?.map { $0["step"] as? Int } == [2])
        #expect(
            try client.send(
                "POST", "/api/training/jobs/\(id)/metrics", headers: ["Authorization": "Bearer \(jobToken)", "Content-Type": "text/csv"],
                body: Array("1,2".utf8)
            ).status == 415)

        // Aggregate.
        let aggregate = try client.get("/api/training/metrics/aggregate?group_by=model_name", headers: key)
        #expect(aggregate.status == 200)
        #expect(aggregate.json["jobs_with_metrics"] as? Int == 1)
        #expect((aggregate.json["best_eval_loss"] as? [String: Any])?["job_id"] as? String == id)
        #expect((aggregate.json["groups"] as? [[String: Any]])?.count == 1)

        // Lifecycle: complete with the job token, then the illegal moves.
        let done = try client.send("PATCH", "/api/training/jobs/\(id)", headers: trainer, body: Array(#"{"status":"completed","progress":100}"#.utf8))
        #expect(done.status == 200)
        #expect((done.json["data"] as? [String: Any])?["completed_at"] is String)
        let again = try client.send("PATCH", "/api/training/jobs/\(id)", headers: trainer, body: Array(#"{"status":"running"}"#.utf8))
        #expect(again.status == 409)
        #expect(again.json["code"] as? String == "INVALID_STATUS_TRANSITION")
        #expect(try client.send("POST", "/api/training/jobs/\(id)/cancel", headers: key).status == 409)
        #expect(
            try client.send("POST", "/api/training/jobs/\(id)/metrics", headers: trainer, body: Array(#"{"metrics":[{"step":9}]}"#.utf8)).status
                == 409)
        #expect(try client.send("POST", "/api/training/jobs/\(id)/restart", headers: key).status == 409)

        // A cancelled job restarts as a new pending job.
        let second = try client.postJSON("/api/training/jobs", #"{"model_name":"m"}"#, headers: key)
        let secondID = try #require(second.json["id"] as? String)
        #expect(try client.send("POST", "/api/training/jobs/\(secondID)/cancel", headers: key).status == 200)
        let restarted = try client.send("POST", "/api/training/jobs/\(secondID)/restart", headers: key)
        #expect(restarted.status == 201)
        #expect((restarted.json["data"] as? [String: Any])?["resumed_from_job_id"] as? String == secondID)

        // The job token is good for its own job's trainer routes only.
        #expect(try client.get("/api/training/jobs/\(id)", headers: ["Authorization": "Bearer \(jobToken)"]).status == 401)
        #expect(try client.send("PATCH", "/api/training/jobs/\(secondID)", headers: trainer, body: Array(#"{"progress":1}"#.utf8)).status == 401)

        // The OpenAPI document is public.
        let document = try client.get("/api/openapi.json")
        #expect(document.status == 200)
        #expect(document.json["openapi"] as? String == "3.1.0")
    }
}
