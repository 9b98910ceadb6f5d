import Domain
import Foundation
import Testing

/// The analytics dashboard and notification preferences through nginx and the pool.
@Suite("dashboard and notification preferences through nginx", .serialized)
struct DashboardAndPreferencesEndpointTests {
    @Test func dashboardReflectsTheCallersJobsAndDatasets() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let training = ["X-API-Key": try cluster.createKey(user: user, scopes: "training")]
        let analytics = ["X-API-Key": try cluster.createKey(user: user, scopes: "analytics")]
        let client = cluster.client()

        func create() throws -> String {
            let created = try client.postJSON("/api/training/jobs", #"{"model_name":"llama-3-8b"}"#, headers: training)
            return try #require(created.json["id"] as? String)
        }
        func patch(_ id: String, _ body: String) throws {
            let response = try client.send(
                "PATCH", "/api/training/jobs/\(id)", headers: training.merging(["Content-Type": "application/json"]) { $1 }, body: Array(body.utf8))
            #expect(response.status == 200, "\(response.text)")
        }
        let completed = try create()
        try patch(completed, #"{"status":"running","current_step":40}"#)
        try patch(completed, #"{"status":"completed"}"#)
        let failed = try create()
        try patch(failed, #"{"status":"running","current_step":2}"#)
        try patch(failed, #"{"status":"failed","error_message":"CUDA out of memory"}"#)
        let cancelled = try create()
        #expect(try client.send("POST", "/api/training/jobs/\(cancelled)/cancel", headers: training).status == 200)
        _ = try create()
        // Another user's job is not counted.
        let otherKey = ["X-API-Key": try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")]
        _ = try client.postJSON("/api/training/jobs", #"{"model_name":"x"}"#, headers: otherKey)
        let now = ISO8601DateFormatter().string(from: Date())
        try insertDataset(cluster, user: user, format: "alpaca", examples: 120, createdAt: now)
        try insertDataset(cluster, user: user, format: "chatml", examples: 30, createdAt: now)

        let response = try client.get("/api/analytics/dashboard", headers: analytics)
        #expect(response.status == 200, "\(response.text)")
        let body = response.json
        let range = try #require(body["range"] as? [String: String])
        let today = String(now.prefix(10))
        #expect(range["to"] == today)
        let jobs = try #require(body["jobs"] as? [String: Any])
        #expect(jobs["by_status"] as? [String: Int] == ["pending": 1, "running": 0, "paused": 0, "completed": 1, "failed": 1, "cancelled": 1])
        let perDay = try #require(jobs["created_per_day"] as? [[String: Any]])
        #expect(perDay.count == 30)
        #expect(perDay.last?["date"] as? String == today && perDay.last?["count"] as? Int == 4)
        #expect(perDay.dropLast().allSatisfy { $0["count"] as? Int == 0 })
        #expect(abs((jobs["success_rate"] as? Double ?? -1) - 1.0 / 3.0) < 1e-9)
        #expect(jobs["avg_duration_seconds"] is Double || jobs["avg_duration_seconds"] is Int)
        #expect(jobs["p95_duration_seconds"] is Double || jobs["p95_duration_seconds"] is Int)
        #expect(body["training"] as? [String: Int] == ["total_steps": 42, "metrics_points": 0])
        let datasets = try #require(body["datasets"] as? [String: Any])
        #expect(datasets["count"] as? Int == 2 && datasets["total_examples"] as? Int == 150)
        #expect(datasets["by_format"] as? [String: Int] == ["chatml": 1, "sharegpt": 0, "alpaca": 1, "dpo": 0, "text": 0])
        let failures = try #require(body["recent_failures"] as? [[String: Any]])
        #expect(failures.count == 1)
        #expect(failures.first?["id"] as? String == failed)
        #expect(failures.first?["error_message"] as? String == "CUDA out of memory")
        #expect(failures.first?["completed_at"] is String)

        let past = try client.get("/api/analytics/dashboard?from=2020-01-01&to=2020-01-31", headers: analytics)
        #expect((past.json["jobs"] as? [String: Any])?["created_per_day"].map { ($0 as? [Any])?.count } == 31)
        #expect((past.json["datasets"] as? [String: Any])?["count"] as? Int == 0)
        let backwards = try client.get("/api/analytics/dashboard?from=2025-02-01&to=2025-01-01", headers: analytics)
        #expect(backwards.status == 400)
        #expect((backwards.json["details"] as? String)?.contains("from") == true)
        #expect(try client.get("/api/analytics/dashboard?from=2023-01-01&to=2025-01-01", headers: analytics).status == 400)
        #expect(try client.get("/api/analytics/dashboard?to=01/02/2025", headers: analytics).status == 400)
        #expect(try client.get("/api/analytics/dashboard", headers: training).status == 403)
        #expect(try client.get("/api/analytics/dashboard").status == 401)
    }

    @Test func preferencesDefaultsPartialUpdatesAndChecks() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = ["X-API-Key": try cluster.createKey(user: user, scopes: "notifications")]
        let client = cluster.client()

        let first = try client.get("/api/notifications/preferences", headers: key)
        #expect(first.status == 200)
        #expect(Set(first.json.keys) == ["data"])
        let defaults = try #require(first.json["data"] as? [String: Any])
        #expect(defaults.count == 17)
        #expect(defaults["timezone"] as? String == "UTC" && defaults["daily_summary_hour"] as? Int == 9 && defaults["email_address"] is NSNull)

        let updated = try client.postJSON("/api/notifications/preferences", #"{"timezone":"America/New_York","quiet_hours_start":21}"#, headers: key)
        #expect(updated.status == 200, "\(updated.text)")
        let data = try #require(updated.json["data"] as? [String: Any])
        #expect(data["timezone"] as? String == "America/New_York" && data["quiet_hours_start"] as? Int == 21 && data["quiet_hours_end"] as? Int == 8)

        let unknown = try client.postJSON("/api/notifications/preferences", #"{"push_enabled":true}"#, headers: key)
        #expect(unknown.status == 400)
        #expect((unknown.json["details"] as? String)?.contains("push_enabled") == true)
        let badZone = try client.postJSON("/api/notifications/preferences", #"{"timezone":"../../etc/passwd"}"#, headers: key)
        #expect(badZone.status == 400)
        #expect((badZone.json["details"] as? String)?.contains("timezone") == true)
        let badHour = try client.postJSON("/api/notifications/preferences", #"{"daily_summary_hour":9.5}"#, headers: key)
        #expect(badHour.status == 400)
        #expect((badHour.json["details"] as? String)?.contains("daily_summary_hour") == true)
        let models = ["X-API-Key": try cluster.createKey(user: user, scopes: "models")]
        #expect(try client.get("/api/notifications/preferences", headers: models).status == 403)
        #expect(try client.postJSON("/api/notifications/preferences", "{}", headers: models).status == 403)
    }

    /// Partial updates of different fields racing from many connections
    /// through nginx: every one of them survives.
    @Test func concurrentPartialUpdatesThroughNginxAllSurvive() throws {
        let cluster = try TestCluster(workers: 2, threads: 4, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = ["X-API-Key": try cluster.createKey(user: user, scopes: "notifications")]
        for round in 0..<4 {
            let changes = Self.changes(round: round)
            let tally = Tally()
            DispatchQueue.concurrentPerform(iterations: changes.count) { index in
                let status =
                    (try? HTTPTestClient(port: cluster.port).postJSON("/api/notifications/preferences", changes[index].body, headers: key).status)
                    ?? 0
                tally.add("\(status)")
            }
            #expect(tally.all == ["200": changes.count])
            let stored = try #require(try cluster.client().get("/api/notifications/preferences", headers: key).json["data"] as? [String: Any])
            for change in changes {
                let got = String(
                    decoding: try JSONSerialization.data(withJSONObject: [change.field: stored[change.field] ?? NSNull()]), as: UTF8.self)
                #expect(got == change.body, "round \(round)")
            }
        }
    }

    /// Updates of different fields held in both worker processes at once,
    /// then released together: all survive. Straight to the pool's socket:
    /// 2 workers × 2 accept threads, nginx holding at most one of them (its
    /// start-up health check), so three half-sent requests occupy threads of
    /// both workers.
    @Test func partialUpdatesRacingInTwoWorkerProcessesAllSurvive() throws {
        let cluster = try TestCluster(workers: 2, threads: 2, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "notifications")
        let headers = ["HTTP_X_API_KEY": key, "CONTENT_TYPE": "application/json"]
        // Every field away from its default, so a lost update shows.
        let changes: [(field: String, body: String)] = [
            ("email_enabled", "false"), ("email_address", #""race@example.com""#), ("alert_job_started", "true"),
            ("alert_job_completed", "false"), ("alert_job_failed", "false"), ("alert_job_cancelled", "true"), ("alert_gpu_oom", "false"),
            ("alert_disk_warning", "false"), ("alert_timeout_warning", "false"), ("daily_summary_enabled", "true"),
            ("daily_summary_hour", "5"), ("weekly_digest_enabled", "true"), ("weekly_digest_day", "4"), ("quiet_hours_enabled", "true"),
            ("quiet_hours_start", "23"), ("quiet_hours_end", "6"), ("timezone", #""Asia/Tokyo""#),
        ].map { ($0.0, "{\"\($0.0)\":\($0.1)}") }
        for group in stride(from: 0, to: changes.count, by: 3) {
            let racing = Array(changes[group..<min(group + 3, changes.count)])
            var clients: [FastCGITestClient] = []
            for change in racing {
                let body = Array(change.body.utf8)
                let client = try FastCGITestClient(socketPath: cluster.socketPath)
                try client.begin(
                    method: "POST", path: "/api/notifications/preferences", headers: headers, contentLength: body.count,
                    firstPart: Array(body.prefix(3))
                )
                clients.append(client)
            }
            // Each thread has its own client.
            nonisolated(unsafe) let held = clients
            let tally = Tally()
            DispatchQueue.concurrentPerform(iterations: racing.count) { index in
                let body = Array(racing[index].body.utf8)
                let response = (try? held[index].finish(rest: Array(body.dropFirst(3)))).flatMap { try? held[index].readResponse() } ?? ""
                tally.add(response.hasPrefix("Status: 200") ? "200" : response)
            }
            #expect(tally.all == ["200": racing.count])
        }
        let reader = try FastCGITestClient(socketPath: cluster.socketPath)
        try reader.begin(method: "GET", path: "/api/notifications/preferences", headers: headers, contentLength: 0, firstPart: [])
        try reader.finish(rest: [])
        let response = try reader.readResponse()
        let body = try #require(response.range(of: "\r\n\r\n").map { response[$0.upperBound...] })
        let stored = try #require((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["data"] as? [String: Any])
        for change in changes {
            let got = String(
                decoding: try JSONSerialization.data(
                    withJSONObject: [change.field: stored[change.field] ?? NSNull()], options: .withoutEscapingSlashes), as: UTF8.self)
            #expect(got == change.body)
        }
        // Access-log lines are written in batches, at most a second after their requests.
        func servers() -> Set<Int> {
            Set(
                cluster.logLines().filter {
                    ($0["http.path"] as? String) == "/api/notifications/preferences" && ($0["http.method"] as? String) == "POST"
                }
                .compactMap { $0["worker.pid"] as? Int })
        }
        try? cluster.waitFor("both workers' access-log lines", timeout: 10) { servers().count == 2 }
        #expect(servers().count == 2, "both workers served updates")
    }

    /// One change of every field, with values that differ from round to round.
    static func changes(round: Int) -> [(field: String, body: String)] {
        let flag = round % 2 == 0
        let flags = [
            "email_enabled", "alert_job_started", "alert_job_completed", "alert_job_failed", "alert_job_cancelled", "alert_gpu_oom",
            "alert_disk_warning", "alert_timeout_warning", "daily_summary_enabled", "weekly_digest_enabled", "quiet_hours_enabled",
        ]
        var changes: [(String, any Sendable)] = flags.map { ($0, flag) }
        changes += [
            ("daily_summary_hour", round + 1), ("weekly_digest_day", round), ("quiet_hours_start", 20 + round),
            ("quiet_hours_end", round + 4), ("timezone", ["Asia/Tokyo", "Europe/Berlin", "America/Chicago", "Australia/Sydney"][round % 4]),
            ("email_address", "round\(round)@example.com"),
        ]
        return changes.map { ($0.0, String(decoding: try! JSONSerialization.data(withJSONObject: [$0.0: $0.1]), as: UTF8.self)) }
    }

    /// A dataset record written straight to the pool's database (the dashboard reads records only).
    private func insertDataset(_ cluster: TestCluster, user: String, format: String, examples: Int, createdAt: String) throws {
        let store = try cluster.store()
        let id = UUID().uuidString.lowercased()
        try store.datasets.insert(
            DatasetRecord(
                id: id, userID: user, name: "ds-\(id)", format: format, sizeBytes: 1, totalExamples: Int64(examples), sha256: "x",
                filePath: "datasets/\(id).jsonl", createdAt: Timestamp(iso8601: createdAt)!
            ))
    }
}
