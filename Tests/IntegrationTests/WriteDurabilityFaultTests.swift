import Essentials
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The fault suite's write check: mixed write and read load through nginx, a worker SIGKILLed in the middle
/// of it, then SIGTERM to the master; afterwards every write the pool acknowledged is in the store.
@Suite("acknowledged writes survive faults", .serialized)
struct WriteDurabilityFaultTests {
    @Test func everyAcknowledgedWriteSurvivesAKilledWorkerAndAStop() throws {
        let cluster = try TestCluster(workers: 2, threads: 4, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = ["X-API-Key": try cluster.createKey(user: user, scopes: "all")]
        let jobs = Locked<[String]>([])
        let points = Locked<[(job: String, step: Int)]>([])
        let tally = Tally()
        let stopping = Locked(false)
        for writer in 0..<4 {
            Thread {
                let client = cluster.client()
                var step = 0
                var job: String?
                while !stopping.withLock({ $0 }) {
                    do {
                        if job == nil || step % 20 == 0 {
                            let created = try client.postJSON("/api/training/jobs", #"{"model_name":"fault-\#(writer)"}"#, headers: key)
                            tally.add("create \(created.status)")
                            if created.status == 201, let id = created.json["id"] as? String {
                                jobs.withLock { $0.append(id) }
                                job = id
                            }
                        }
                        step += 1
                        if let job {
                            let body = #"{"metrics":[{"step":\#(step),"train_loss":\#(Double(step) / 100)}]}"#
                            let posted = try client.postJSON("/api/training/jobs/\(job)/metrics", body, headers: key)
                            tally.add("metrics \(posted.status)")
                            if posted.status == 200 { points.withLock { $0.append((job, step)) } }
                        }
                    } catch {
                        tally.add("error")
                        client.close()
                    }
                }
                tally.add("done")
            }.start()
        }
        for _ in 0..<2 {
            Thread {
                let client = cluster.client()
                while !stopping.withLock({ $0 }) {
                    tally.add("stats \((try? client.get("/api/training/stats", headers: key).status) ?? 0)")
                }
                tally.add("done")
            }.start()
        }
        try cluster.waitFor("writes to start") { points.withLock { $0.count } > 300 }
        let victim = try #require(cluster.workerPIDs().first)
        kill(victim, SIGKILL)
        let atKill = points.withLock { $0.count }
        try cluster.waitFor("writes after the kill") { points.withLock { $0.count } > atKill + 300 }
        func failures() -> Int { tally.all.filter { $0.key != "done" && !$0.key.hasSuffix(" 200") && !$0.key.hasSuffix(" 201") }.values.reduce(0, +) }
        let failedBeforeStop = failures()
        let sentBeforeStop = tally.all.filter { $0.key != "done" }.values.reduce(0, +)
        // Only what the killed worker was serving (one request per accept thread) may fail.
        #expect(failedBeforeStop <= cluster.threads, "\(tally.all)")
        kill(cluster.masterPID, SIGTERM)
        try cluster.waitFor("the pool to stop", timeout: 40) { cluster.pool?.isRunning == false }
        stopping.withLock { $0 = true }
        try cluster.waitFor("load threads") { tally["done"] == 6 }

        let store = try cluster.store()
        let acknowledgedJobs = jobs.withLock { $0 }
        let acknowledgedPoints = points.withLock { $0 }
        var lostJobs = 0
        for id in acknowledgedJobs where try store.trainingJobs.find(id: id, userID: user) == nil { lostJobs += 1 }
        var stored: [String: Set<Int64>] = [:]
        for id in Set(acknowledgedPoints.map(\.job)) {
            stored[id] = Set(try store.trainingJobs.metrics(jobID: id, sinceStep: nil, limit: 100_000, offset: 0).points.map(\.step))
        }
        let lostPoints = acknowledgedPoints.filter { stored[$0.job]?.contains(Int64($0.step)) != true }.count
        #expect(lostJobs == 0)
        #expect(lostPoints == 0)
        let sent = tally.all.filter { $0.key != "done" }.values.reduce(0, +)
        let failed = tally.all.filter { $0.key != "done" && !$0.key.hasSuffix(" 200") && !$0.key.hasSuffix(" 201") }
        // Failures: what the killed worker held (one per thread), and what was sent once the master was stopping.
        print(
            "fault suite: \(sentBeforeStop) requests before SIGTERM, \(failedBeforeStop) failed (the killed worker's); \(sent) in all, "
                + "\(failed.values.reduce(0, +)) failed once the pool was stopping (\(failed)); \(acknowledgedJobs.count) jobs and "
                + "\(acknowledgedPoints.count) metric points acknowledged, \(lostJobs + lostPoints) lost")
    }
}
