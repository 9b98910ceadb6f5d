import API
import Domain
import Foundation
import HTTPCore
import Testing

@Suite struct TrainingAggregateTests {
    private func job(_ env: TestEnvironment, _ headers: [String: String], model: String, metrics: String?) throws -> String {
        let object = try env.postJSON("/api/training/jobs", #"{"model_name":"\#(model)"}"#, headers: headers).object()
        let id = try #require(object["id"]?.stringValue)
        if let metrics {
            let token = try #require(object["data"]?.dictionary?["job_token"]?.stringValue)
            let response = env.postJSON(
                "/api/training/jobs/\(id)/metrics", #"{"metrics":\#(metrics)}"#, headers: ["Authorization": "Bearer \(token)"])
            #expect(response.status.code == 200, "\(response.text)")
        }
        return id
    }

    @Test func aggregatesTheCallersJobsOverallAndPerModel() throws {
        let env = try TestEnvironment()
        let headers = env.sessionHeaders(userID: newUserID())
        let a1 = try job(
            env, headers, model: "a",
            metrics:
                #"[{"step":1,"train_loss":2,"eval_loss":1.5,"samples_per_second":10},"#
                + #"{"step":2,"train_loss":1,"eval_loss":0.5,"samples_per_second":20}]"#
        )
        _ = try job(env, headers, model: "a", metrics: nil)
        let b1 = try job(env, headers, model: "b", metrics: #"[{"step":4,"train_loss":3,"eval_loss":0.8,"samples_per_second":30}]"#)
        _ = try job(env, env.sessionHeaders(userID: newUserID()), model: "a", metrics: #"[{"step":9,"eval_loss":0.01}]"#)

        let body = try env.get("/api/training/metrics/aggregate", query: "group_by=model_name", headers: headers).object()
        #expect(body["jobs"] == .int(3))
        #expect(body["jobs_with_metrics"] == .int(2))
        #expect(body["total_steps"] == .int(6))
        #expect(body["best_eval_loss"] == .object(["value": .double(0.5), "job_id": .string(a1), "step": .int(2)]))
        #expect(body["avg_final_train_loss"] == .double(2))
        #expect(body["avg_final_eval_loss"] == .double(0.65))
        #expect(body["avg_samples_per_second"] == .double(20))
        let groups = try #require(body["groups"]?.arrayValue).compactMap(\.dictionary)
        #expect(groups.map { $0["model_name"] } == [.string("a"), .string("b")])
        #expect(groups[0]["jobs"] == .int(2) && groups[0]["jobs_with_metrics"] == .int(1))
        #expect(groups[1]["best_eval_loss"] == .object(["value": .double(0.8), "job_id": .string(b1), "step": .int(4)]))

        let onlyB = try env.get("/api/training/metrics/aggregate", query: "model_name=b", headers: headers).object()
        #expect(onlyB["jobs"] == .int(1))
        #expect(onlyB["groups"] == nil)
        let future = try env.get("/api/training/metrics/aggregate", query: "from=2999-01-01", headers: headers).object()
        #expect(future["jobs"] == .int(0))
        #expect(future["best_eval_loss"] == .null)
        #expect(future["avg_final_train_loss"] == .null)
        let today = Timestamp.now().iso8601.prefix(10)
        #expect(try env.get("/api/training/metrics/aggregate", query: "from=\(today)&to=\(today)", headers: headers).object()["jobs"] == .int(3))

        for bad in ["from=yesterday", "to=2025-13-01", "group_by=status", "from=2025-02-01&to=2025-01-01", "to=", "from="] {
            #expect(env.get("/api/training/metrics/aggregate", query: bad, headers: headers).status.code == 400, "\(bad)")
        }
    }
}
