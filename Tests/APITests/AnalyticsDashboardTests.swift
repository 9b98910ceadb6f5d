import API
import Domain
import Foundation
import JSON
import Testing

/// A dataset record as the datasets API would store it (the dashboard reads records only).
func insertDatasetRow(_ store: any Store, userID: String, format: String, examples: Int, createdAt: String) throws {
    let id = UUID().uuidString.lowercased()
    try store.datasets.insert(
        DatasetRecord(
            id: id, userID: userID, name: "ds-\(id)", format: format, sizeBytes: 100, totalExamples: Int64(examples), sha256: "x",
            filePath: "datasets/\(id).jsonl", createdAt: Timestamp(iso8601: createdAt)!
        ))
}

@Suite struct AnalyticsDashboardTests {
    static func at(_ text: String) -> Timestamp { Timestamp(iso8601: text)! }

    /// A job created at `created`, and (when given) started and finished with `status`.
    static func job(
        _ user: String, created: String, status: JobStatus = .pending, runSeconds: Double? = nil, finished: String? = nil,
        steps: Int64 = 0, error: String? = nil
    ) -> TrainingJob {
        let createdAt = at(created)
        let completedAt = finished.map(at) ?? runSeconds.map { createdAt.adding(seconds: 60 + $0) }
        return TrainingJob(
            id: UUID().uuidString.lowercased(), userID: user, modelName: "m-\(status.rawValue)", status: status, currentStep: steps,
            errorMessage: error, createdAt: createdAt, startedAt: runSeconds != nil || finished != nil ? createdAt.adding(seconds: 60) : nil,
            completedAt: status.isTerminal ? completedAt : nil
        )
    }

    func dashboard(_ env: TestEnvironment, _ user: String, _ query: String = "") throws -> [String: JSONValue] {
        let response = env.get("/api/analytics/dashboard", query: query, headers: env.sessionHeaders(userID: user))
        #expect(response.status.code == 200, "\(response.text)")
        return try response.object()
    }

    @Test func emptyDefaultRangeIsTheLast30DaysWithEveryBucket() throws {
        let env = try TestEnvironment()
        let body = try dashboard(env, newUserID())
        let today = String(Timestamp.now().iso8601.prefix(10))
        let first = String(Timestamp.now().adding(seconds: -29 * 86_400).iso8601.prefix(10))
        #expect(body["range"] == .object(["from": .string(first), "to": .string(today)]))
        let jobs = try #require(body["jobs"]?.dictionary)
        let perDay = try #require(jobs["created_per_day"]?.arrayValue)
        #expect(perDay.count == 30)
        #expect(perDay.first?.dictionary?["date"] == .string(first) && perDay.last?.dictionary?["date"] == .string(today))
        #expect(perDay.allSatisfy { $0.dictionary?["count"] == .int(0) })
        #expect(jobs["by_status"]?.dictionary == Dictionary(uniqueKeysWithValues: JobStatus.allCases.map { ($0.rawValue, JSONValue.int(0)) }))
        #expect(jobs["success_rate"] == .null && jobs["avg_duration_seconds"] == .null && jobs["p95_duration_seconds"] == .null)
        #expect(body["training"] == .object(["total_steps": .int(0), "metrics_points": .int(0)]))
        let datasets = try #require(body["datasets"]?.dictionary)
        #expect(datasets["count"] == .int(0) && datasets["total_examples"] == .int(0))
        #expect(datasets["by_format"]?.dictionary?.count == 5)
        #expect(body["recent_failures"] == .array([]))
    }

    @Test func figuresCoverTheCallersJobsCreatedInTheRange() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let other = newUserID()
        var jobs: [TrainingJob] = [
            Self.job(user, created: "2025-03-01T10:00:00Z", status: .completed, runSeconds: 100, steps: 10),
            Self.job(user, created: "2025-03-01T23:59:59Z", status: .completed, runSeconds: 300, steps: 20),
            Self.job(user, created: "2025-03-03T00:00:00Z", status: .cancelled, steps: 5),
            Self.job(user, created: "2025-03-05T12:00:00Z", status: .running, runSeconds: 0, steps: 7),
            Self.job(user, created: "2025-03-05T12:00:00Z", status: .pending),
            // Outside the range: the day before and the day after.
            Self.job(user, created: "2025-02-28T23:59:59Z", status: .completed, runSeconds: 5000, steps: 1000),
            Self.job(user, created: "2025-03-06T00:00:00Z", status: .failed, runSeconds: 1, error: "late"),
            // Another user's, inside the range.
            Self.job(other, created: "2025-03-02T00:00:00Z", status: .failed, runSeconds: 1, error: "not yours"),
        ]
        // Twelve failures: only the ten newest by completed_at are listed.
        for index in 0..<12 {
            jobs.append(
                Self.job(
                    user, created: "2025-03-02T0\(index % 10):00:00Z", status: .failed,
                    finished: "2025-03-04T\(String(format: "%02d", index)):00:00Z", error: "oom \(index)"
                ))
        }
        try env.store.trainingJobs.insert(jobs)
        // metrics_points follow stored points.
        _ = try env.store.trainingJobs.appendMetrics(id: jobs[3].id, userID: user, points: [MetricPoint(step: 1), MetricPoint(step: 2)]) { _, _ in }
        try insertDatasetRow(env.store, userID: user, format: "chatml", examples: 10, createdAt: "2025-03-02T00:00:00Z")
        try insertDatasetRow(env.store, userID: user, format: "chatml", examples: 5, createdAt: "2025-03-05T23:00:00Z")
        try insertDatasetRow(env.store, userID: user, format: "dpo", examples: 7, createdAt: "2025-03-03T00:00:00Z")
        try insertDatasetRow(env.store, userID: user, format: "text", examples: 99, createdAt: "2025-03-06T00:00:00Z")
        try insertDatasetRow(env.store, userID: other, format: "text", examples: 99, createdAt: "2025-03-03T00:00:00Z")

        let body = try dashboard(env, user, "from=2025-03-01&to=2025-03-05")
        #expect(body["range"] == .object(["from": .string("2025-03-01"), "to": .string("2025-03-05")]))
        let section = try #require(body["jobs"]?.dictionary)
        #expect(
            section["by_status"]?.dictionary == [
                "pending": .int(1), "running": .int(1), "paused": .int(0), "completed": .int(2), "failed": .int(12), "cancelled": .int(1),
            ])
        #expect(section["total"] == .int(17))
        let perDay = try #require(section["created_per_day"]?.arrayValue).map {
            ($0.dictionary?["date"]?.stringValue ?? "", $0.dictionary?["count"]?.intValue ?? -1)
        }
        #expect(perDay.map(\.0) == ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04", "2025-03-05"])
        #expect(perDay.map(\.1) == [2, 12, 1, 0, 2])
        // 2 completed of 15 finished (completed + failed + cancelled).
        #expect(section["success_rate"] == .double(2.0 / 15.0))
        #expect(section["avg_duration_seconds"] == .double(200))
        #expect(section["p95_duration_seconds"] == .double(300))
        #expect(body["training"] == .object(["total_steps": .int(42), "metrics_points": .int(2)]))
        let datasets = try #require(body["datasets"]?.dictionary)
        #expect(datasets["count"] == .int(3) && datasets["total_examples"] == .int(22))
        #expect(datasets["by_format"]?.dictionary == ["chatml": .int(2), "sharegpt": .int(0), "alpaca": .int(0), "dpo": .int(1), "text": .int(0)])
        let failures = try #require(body["recent_failures"]?.arrayValue).compactMap(\.dictionary)
        #expect(failures.count == 10)
        #expect(failures.map { $0["error_message"]?.stringValue } == (2..<12).reversed().map { "oom \($0)" })
        #expect(failures.first?["completed_at"] == .string("2025-03-04T11:00:00Z"))
        #expect(Set(failures.first.map { Array($0.keys) } ?? []) == ["id", "model_name", "error_message", "completed_at"])
    }

    static let p95Cases: [([Double], Double)] = [
        ([100], 100), ([10, 20, 30], 30), ((1...20).map { Double($0) }, 19), ((1...21).map { Double($0) }, 20),
        ((1...100).map { Double($0) }, 95), ([5, 1], 5),
    ]

    @Test(arguments: AnalyticsDashboardTests.p95Cases)
    func p95IsTheNearestRank(durations: [Double], expected: Double) throws {
        let env = try TestEnvironment()
        let user = newUserID()
        try env.store.trainingJobs.insert(
            durations.shuffled().map { Self.job(user, created: "2025-06-10T08:00:00Z", status: .completed, runSeconds: $0) })
        // A completed job without started_at has no duration.
        var untimed = Self.job(user, created: "2025-06-10T08:00:00Z", status: .completed, runSeconds: 1)
        untimed.startedAt = nil
        try env.store.trainingJobs.insert([untimed])
        let jobs = try #require(try dashboard(env, user, "from=2025-06-10&to=2025-06-10")["jobs"]?.dictionary)
        #expect(jobs["p95_duration_seconds"] == .double(expected))
        #expect(jobs["avg_duration_seconds"] == .double(durations.reduce(0, +) / Double(durations.count)))
    }

    @Test func rangeParametersAreChecked() throws {
        let env = try TestEnvironment()
        let headers = env.sessionHeaders(userID: newUserID())
        func check(_ query: String, _ status: Int, mentions: String? = nil) throws {
            let response = env.get("/api/analytics/dashboard", query: query, headers: headers)
            #expect(response.status.code == status, "\(query): \(response.text)")
            if let mentions { #expect(try response.object()["details"]?.stringValue?.contains(mentions) == true, "\(query): \(response.text)") }
        }
        try check("from=2025-03-02&to=2025-03-01", 400, mentions: "from")
        try check("from=2024-01-01&to=2025-01-02", 400, mentions: "366")
        try check("from=2024-01-01&to=2025-01-01", 200)
        try check("from=2025-02-30", 400, mentions: "from")
        try check("to=2025-3-1", 400, mentions: "to")
        try check("to=2025-03-01T10:00:00Z", 400, mentions: "to")  // a date, not a time
        try check("to=", 400, mentions: "to")
        try check("from=yesterday", 400, mentions: "from")
        try check("to=2025-03-01", 200)
        let body = try env.get("/api/analytics/dashboard", query: "from=2024-01-01&to=2025-01-01", headers: headers).object()
        #expect(body["jobs"]?.dictionary?["created_per_day"]?.arrayValue?.count == 367)
        let defaultFrom = try env.get("/api/analytics/dashboard", query: "to=2025-03-01", headers: headers).object()
        #expect(defaultFrom["range"] == .object(["from": .string("2025-01-31"), "to": .string("2025-03-01")]))
    }

    @Test func needsTheAnalyticsScope() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        #expect(env.get("/api/analytics/dashboard").status.code == 401)
        let training = try env.insertKey(userID: user, scopes: [.training]).key
        let response = env.get("/api/analytics/dashboard", headers: ["X-API-Key": training])
        #expect(response.status.code == 403)
        #expect(try response.object() == errorBody("Insufficient scope", code: "INSUFFICIENT_SCOPE"))
        let analytics = try env.insertKey(userID: user, scopes: [.analytics]).key
        #expect(env.get("/api/analytics/dashboard", headers: ["X-API-Key": analytics]).status.code == 200)
    }
}
