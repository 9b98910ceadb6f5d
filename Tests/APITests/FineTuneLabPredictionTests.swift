import API
import Foundation
import HTTPCore
import JSON
import Testing

/// FineTune Lab's training predictions, in memory.
@Suite struct FineTuneLabPredictionTests {
    private static func record(epoch: Int, step: Int, sample: Int, cer: Double?, extra: String = "") -> String {
        let rate = cer.map { #","char_error_rate":\#($0)"# } ?? ""
        return
            #"{"epoch":\#(epoch),"step":\#(step),"sample_index":\#(sample),"prompt":"What is 2+2?","prediction":"4","ground_truth":"4"\#(rate)\#(extra)}"#
    }

    private func post(_ user: FineTuneLabUser, _ trainer: [String: String], _ records: [String], job: String = "run") -> Response {
        user.send(
            "POST", "/api/training/local/predictions", #"{"job_id":"\#(job)","predictions":[\#(records.joined(separator: ","))]}"#, headers: trainer)
    }

    @Test func predictionsAreStoredOnceAndSummarised() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (id, trainer) = try user.job("run")
        let records = [
            Self.record(epoch: 1, step: 100, sample: 1, cer: 0.5, extra: #","exact_match":0,"validation_pass":false,"validation_errors":["x"]"#),
            Self.record(epoch: 1, step: 100, sample: 0, cer: 0.3, extra: #","exact_match":1,"validation_pass":true,"job_id":"run""#),
            Self.record(epoch: 2, step: 200, sample: 0, cer: 0.2, extra: #","latency_ms":12.5,"total_tokens":9,"job_id":"\#(id)""#),
            Self.record(epoch: 2, step: 200, sample: 1, cer: nil, extra: #","user_id":"\#(user.userID)""#),
        ]
        let response = post(user, trainer, records)
        #expect(response.status.code == 200, "\(response.text)")
        #expect(try response.object() == ["success": .bool(true), "count": .int(4)])
        let first = try user.get("/api/training/predictions/run")
        #expect(post(user, trainer, records).status.code == 200)
        #expect(try user.get("/api/training/predictions/run") == first, "a re-sent batch changes nothing")

        #expect(first["job_id"] == .string("run") && first["total_count"] == .int(4) && first["epoch_count"] == .int(2))
        let items = try #require(first["predictions"]?.arrayValue?.compactMap { $0.dictionary })
        #expect(
            items.map { [$0["epoch"], $0["sample_index"]] } == [[.int(1), .int(0)], [.int(1), .int(1)], [.int(2), .int(0)], [.int(2), .int(1)]])
        #expect(items[1]["validation_errors"] == .array([.string("x")]) && items[1]["validation_pass"] == .bool(false))
        #expect(items[2]["latency_ms"] == .double(12.5) && items[2]["total_tokens"] == .int(9) && items[2]["job_id"] == .string("run"))
        #expect(
            items[0]["id"]?.stringValue?.count == 36 && items[0]["created_at"]?.stringValue != nil && items[0]["prompt"] == .string("What is 2+2?"))

        let epoch2 = try user.get("/api/training/predictions/\(id)", query: "epoch=2&limit=1&offset=1")
        #expect(epoch2["predictions"]?.arrayValue?.count == 1 && epoch2["total_count"] == .int(4))

        let epochs = try user.get("/api/training/predictions/run/epochs")
        #expect(
            epochs["epochs"]
                == .array([
                    .object(["epoch": .int(1), "prediction_count": .int(2), "latest_step": .int(100)]),
                    .object(["epoch": .int(2), "prediction_count": .int(2), "latest_step": .int(200)]),
                ]))

        let trends = try user.get("/api/training/predictions/run/trends")
        let rows = try #require(trends["trends"]?.arrayValue?.compactMap { $0.dictionary })
        #expect(rows.count == 2)
        #expect(rows[0]["avg_char_error_rate"] == .double(0.4) && rows[0]["avg_exact_match"] == .double(0.5))
        #expect(rows[0]["validation_pass_rate"] == .double(0.5) && rows[0]["min_char_error_rate"] == .double(0.3))
        #expect(rows[1]["avg_char_error_rate"] == .double(0.2) && rows[1]["sample_count"] == .int(2) && rows[1]["step"] == .int(200))
        #expect(rows[1]["validation_pass_rate"] == .null && rows[1]["avg_exact_match"] == .null)
        let improvement = try #require(trends["overall_improvement"].flatMap { if case .double(let value) = $0 { value } else { nil } })
        #expect(abs(improvement - 50) < 1e-9)
    }

    @Test func badRecordsAre400AndStoreNothing() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (_, trainer) = try user.job("run")
        for record in [
            #"{"step":1,"sample_index":0,"prompt":"p","prediction":"q"}"#, #"{"epoch":1,"step":1,"sample_index":0,"prediction":"q"}"#,
            #"{"epoch":1.5,"step":1,"sample_index":0,"prompt":"p","prediction":"q"}"#,
            #"{"epoch":1,"step":1,"sample_index":0,"prompt":"p","prediction":"q","char_error_rate":NaN}"#,
            #"{"epoch":1,"step":1,"sample_index":0,"prompt":"p","prediction":"q","validation_pass":"yes"}"#,
            #"{"epoch":1,"step":1,"sample_index":0,"prompt":7,"prediction":"q"}"#, "5",
        ] {
            let response = post(user, trainer, [Self.record(epoch: 0, step: 0, sample: 0, cer: 0.1), record])
            #expect(response.status.code == 400, "\(record): \(response.text)")
        }
        #expect(post(user, trainer, []).status.code == 400)
        #expect(post(user, trainer, Array(repeating: Self.record(epoch: 0, step: 0, sample: 0, cer: 0.1), count: 501)).status.code == 400)
        // A record naming another job or user is refused whole.
        let foreign = post(user, trainer, [Self.record(epoch: 0, step: 0, sample: 0, cer: 0.1, extra: #","job_id":"other""#)])
        #expect(foreign.status.code == 401)
        #expect(post(user, trainer, [Self.record(epoch: 0, step: 0, sample: 0, cer: 0.1, extra: #","user_id":"someone""#)]).status.code == 401)
        #expect(try user.get("/api/training/predictions/run")["total_count"] == .int(0))
        let trends = try user.get("/api/training/predictions/run/trends")
        #expect(trends["trends"] == .array([]) && trends["overall_improvement"] == .null)
        #expect(env.get("/api/training/predictions/run", query: "limit=501", headers: user.key).status.code == 400)
        #expect(env.get("/api/training/predictions/nope", headers: user.key).status.code == 404)
    }
}
