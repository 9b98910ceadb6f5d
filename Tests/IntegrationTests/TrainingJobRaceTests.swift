import Foundation
import Testing

@Suite("training job lifecycle through nginx", .serialized)
struct TrainingJobRaceTests {
    @Test func cancelAndCompletionRacingEndInExactlyOneOutcome() throws {
        // One thread per worker, each tied to its connection (with events, one worker may take both
        // connections): two requests in flight at once are necessarily in two different worker processes.
        let cluster = try TestCluster(workers: 2, threads: 1, extraArguments: ["--rate-limit", "0", "--dispatch", "threads"])
        defer { cluster.stop() }
        let token = try cluster.sessionToken(user: UUID().uuidString.lowercased())
        let session = ["Authorization": "Bearer \(token)"]
        var winners: [String: Int] = [:]

        for _ in 0..<30 {
            let created = try cluster.client().postJSON("/api/training/jobs", #"{"model_name":"race"}"#, headers: session)
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            let jobToken = try #require((created.json["data"] as? [String: Any])?["job_token"] as? String)
            let trainer = ["Authorization": "Bearer \(jobToken)"]
            let running = try cluster.client().send(
                "PATCH", "/api/training/jobs/\(id)", headers: trainer.merging(["Content-Type": "application/json"]) { $1 },
                body: Array(#"{"status":"running"}"#.utf8))
            #expect(running.status == 200)

            // Two clients, two nginx connections; both released at once.
            let start = DispatchSemaphore(value: 0)
            let done = DispatchGroup()
            let results = Tally()
            let cancelClient = cluster.client()
            let completeClient = cluster.client()
            // Connected (and kept alive) before the race starts.
            _ = try cancelClient.get("/api/health")
            _ = try completeClient.get("/api/health")
            done.enter()
            Thread {
                start.wait()
                let status = (try? cancelClient.send("POST", "/api/training/jobs/\(id)/cancel", headers: session).status) ?? 0
                results.add("cancel:\(status)")
                done.leave()
            }.start()
            done.enter()
            Thread {
                start.wait()
                let status =
                    (try? completeClient.send(
                        "PATCH", "/api/training/jobs/\(id)", headers: trainer.merging(["Content-Type": "application/json"]) { $1 },
                        body: Array(#"{"status":"completed"}"#.utf8)
                    ).status) ?? 0
                results.add("complete:\(status)")
                done.leave()
            }.start()
            start.signal()
            start.signal()
            done.wait()

            let outcome = results.all
            let final = try cluster.client().get("/api/training/jobs/\(id)", headers: session).json["data"] as? [String: Any]
            if outcome == ["cancel:200": 1, "complete:409": 1] {
                #expect(final?["status"] as? String == "cancelled")
                winners["cancel", default: 0] += 1
            } else if outcome == ["cancel:409": 1, "complete:200": 1] {
                #expect(final?["status"] as? String == "completed")
                winners["complete", default: 0] += 1
            } else {
                Issue.record("not exactly one winner: \(outcome), final \(String(describing: final?["status"]))")
            }
        }
        #expect(winners.values.reduce(0, +) == 30)
        print("race winners: \(winners)")
        // The racing pairs were served by both workers.
        // Access-log lines are written in batches, at most a second after their requests.
        func racingWorkers() -> Set<Int> {
            let racers = cluster.logLines().filter { line in
                (line["http.path"] as? String)?.hasSuffix("/cancel") == true || line["http.method"] as? String == "PATCH"
            }
            return Set(racers.compactMap { $0["worker.pid"] as? Int })
        }
        try? cluster.waitFor("both workers' access-log lines", timeout: 10) { racingWorkers().count == 2 }
        #expect(racingWorkers().count == 2)
    }
}
