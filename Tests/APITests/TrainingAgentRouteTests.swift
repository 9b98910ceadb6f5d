import API
import Domain
import Foundation
import HTTPCore
import JSON
import Testing

/// The training agents' routes in memory: poll, claim, tokens per claim, leases and their sweep, cancellation,
/// the agents list, and dataset URLs that work without a header.
@Suite struct TrainingAgentRouteTests {
    static let dataset = Array(
        (Array(repeating: #"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}"#, count: 5)
            .joined(separator: "\n") + "\n").utf8)

    let env: TestEnvironment
    let user = newUserID()
    let key: [String: String]

    init() throws {
        env = try TestEnvironment(agents: AgentSettings(lease: AgentLeaseTerms(leaseSeconds: 60, maxAttempts: 2)))
        key = ["Authorization": "Bearer " + (try env.insertKey(userID: user, scopes: [.training, .datasets]).key)]
    }

    /// The agent `id`'s headers: the key and its `X-Agent-ID`.
    func agent(_ id: String) -> [String: String] { key.merging(["X-Agent-ID": id]) { $1 } }

    /// Creates a job (on `dataset`, if given); its id and token.
    func job(_ name: String = "m", dataset: String? = nil, headers: [String: String]? = nil) throws -> (id: String, token: String) {
        let body = dataset.map { #"{"model_name":"\#(name)","dataset_id":"\#($0)"}"# } ?? #"{"model_name":"\#(name)"}"#
        let created = env.postJSON("/api/training/jobs", body, headers: headers ?? key)
        #expect(created.status == .created, "\(created.text)")
        let data = try #require(try created.object()["data"]?.dictionary)
        return (try #require(data["id"]?.stringValue), try #require(data["job_token"]?.stringValue))
    }

    func poll(_ agentID: String, extra: [String: String] = [:]) throws -> [String: JSONValue] {
        let response = env.get("/api/training/agent/poll", headers: agent(agentID).merging(extra) { $1 })
        #expect(response.status == .ok, "\(response.text)")
        return try response.object()
    }

    func claim(_ jobID: String, by agentID: String) -> Response {
        env.send("POST", "/api/training/agent/claim/\(jobID)", headers: agent(agentID))
    }

    func claimToken(_ jobID: String, by agentID: String) throws -> String {
        let response = claim(jobID, by: agentID)
        #expect(response.status == .ok, "\(response.text)")
        return try #require(try response.object()["job_token"]?.stringValue)
    }

    func putPoint(_ jobID: String, token: String, _ body: String) -> Response {
        env.send(
            "PUT", "/api/training/local/\(jobID)/metrics", headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
            body: Array(body.utf8))
    }

    /// The trainer's `PATCH /api/training/local/{job}/status` to completed.
    func complete(_ jobID: String, token: String) -> Response {
        env.send(
            "PATCH", "/api/training/local/\(jobID)/status", headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
            body: Array(#"{"status":"completed"}"#.utf8))
    }

    func stored(_ id: String) throws -> TrainingJob { try #require(try env.store.trainingJobs.find(id: id, userID: user)) }

    @Test func anAgentIDIsRequiredAndWellFormed() throws {
        let missing = env.get("/api/training/agent/poll", headers: key)
        #expect(missing.status.code == 400)
        #expect(try missing.object()["error"] == .string("Missing X-Agent-ID header"))
        for bad in ["agent_", "agent_abc", "agent_has space", "node_12345678", "agent_" + String(repeating: "a", count: 95)] {
            let response = env.get("/api/training/agent/poll", headers: agent(bad))
            #expect(response.status.code == 400, "\(bad)")
            #expect(try response.object()["error"] == .string("Invalid X-Agent-ID format. Expected: agent_xxxxx"), "\(bad)")
        }
        #expect(env.get("/api/training/agent/poll", headers: agent("agent_" + String(repeating: "a", count: 94))).status.code == 200)
        let claim = env.send("POST", "/api/training/agent/claim/\(UUID().uuidString)", headers: key)
        #expect(claim.status.code == 400)
        // The id grants nothing: without a credential it is a 401, and a key needs scope training.
        #expect(env.get("/api/training/agent/poll", headers: ["X-Agent-ID": "agent_nocredential"]).status.code == 401)
        let datasetsOnly = try env.insertKey(userID: user, scopes: [.datasets]).key
        #expect(env.get("/api/training/agent/poll", headers: ["X-API-Key": datasetsOnly, "X-Agent-ID": "agent_scoped01"]).status.code == 403)
    }

    @Test func aPollShowsTheCallersOldestQueuedJobWithoutAToken() throws {
        let empty = try poll("agent_first01")
        #expect(empty["job"] == .null && empty["message"] == .string("No pending jobs available"))
        #expect(empty["poll_interval_seconds"] == .int(10) && empty["cancelled"] == .array([]))

        let otherKey = ["X-API-Key": try env.insertKey(userID: newUserID(), scopes: [.training]).key]
        _ = try job("theirs", headers: otherKey)
        let first = try job("first")
        Thread.sleep(forTimeInterval: 0.002)
        _ = try job("second")
        let polled = try poll("agent_first01")
        let offered = try #require(polled["job"]?.dictionary)
        #expect(offered["id"] == .string(first.id) && offered["model_name"] == .string("first"))
        #expect(
            Set(offered.keys) == [
                "id", "model_name", "dataset_path", "dataset_url", "dataset_url_expires_at", "config", "total_epochs", "total_steps", "created_at",
            ])
        #expect(offered["dataset_url"] == .null && offered["dataset_path"] == .null)
        #expect(polled["message"] == nil)
        // A poll claims nothing: the job is still pending and queued.
        #expect(try stored(first.id).isQueued)
    }

    @Test func aPollRecordsTheAgentAndItsHeaders() throws {
        let before = Timestamp.now()
        _ = try poll("agent_rec01", extra: ["X-Agent-Hostname": "gpu-1", "X-Agent-Platform": "linux", "X-Agent-Version": "0.3.1"])
        _ = try poll("agent_rec01")  // headers left out later are kept
        let long = env.get(
            "/api/training/agent/poll", headers: agent("agent_rec02").merging(["X-Agent-Hostname": String(repeating: "h", count: 201)]) { $1 })
        #expect(long.status.code == 400)
        let list = try env.get("/api/training/agents", headers: key).object()
        #expect(list["online_threshold_seconds"] == .int(60))
        let agents = try #require(list["agents"]?.arrayValue)
        #expect(agents.count == 1)
        let recorded = try #require(agents.first?.dictionary)
        #expect(recorded["agent_id"] == .string("agent_rec01") && recorded["hostname"] == .string("gpu-1"))
        #expect(recorded["platform"] == .string("linux") && recorded["version"] == .string("0.3.1"))
        #expect(recorded["status"] == .string("online") && recorded["is_online"] == .bool(true) && recorded["job_ids"] == .array([]))
        let registered = try #require(recorded["registered_at"]?.stringValue.flatMap(Timestamp.init(iso8601:)))
        #expect(registered.millisecondsSinceEpoch / 1000 >= before.millisecondsSinceEpoch / 1000)
        // Another user's agent list doesn't show it; the same id is theirs to use too.
        let otherKey = ["X-API-Key": try env.insertKey(userID: newUserID(), scopes: [.training]).key]
        #expect(try env.get("/api/training/agents", headers: otherKey).object()["agents"] == .array([]))
        #expect(env.get("/api/training/agent/poll", headers: otherKey.merging(["X-Agent-ID": "agent_rec01"]) { $1 }).status.code == 200)
        #expect(env.get("/api/training/agents/agent_rec01", headers: otherKey).status.code == 200)
        #expect(env.get("/api/training/agents/agent_nobody", headers: otherKey).status.code == 404)
    }

    @Test func aClaimIssuesTheJobsOneTokenAndStartsIt() throws {
        let created = try job()
        let response = claim(created.id, by: "agent_claim01")
        #expect(response.status == .ok, "\(response.text)")
        let body = try response.object()
        #expect(body["success"] == .bool(true))
        let token = try #require(body["job_token"]?.stringValue)
        #expect(token != created.token && body["job"]?.dictionary?["id"] == .string(created.id))

        let job = try #require(try env.get("/api/training/jobs/\(created.id)", headers: key).object()["data"]?.dictionary)
        #expect(job["status"] == .string("running") && job["started_at"] != .null)
        #expect(job["agent_id"] == .string("agent_claim01") && job["claimed_at"] != .null && job["attempts"] == .int(1))

        // The token from the job's creation stopped working; the claim's writes, every point field stored and returned.
        let old = putPoint(created.id, token: created.token, #"{"step":1}"#)
        #expect(try old.status.code == 409 && (old.object()["code"]) == .string("JOB_REASSIGNED"), "\(old.text)")
        let fields = #"""
            {"step":1,"epoch":0.5,"train_loss":2.5,"eval_loss":2.25,"learning_rate":0.0002,"grad_norm":1.5,"gpu_memory_allocated_gb":20.5,\#
            "gpu_memory_reserved_gb":22.5,"gpu_utilization_percent":97.5,"samples_per_second":12.5,"tokens_per_second":3000.5,\#
            "train_perplexity":12.25,"eval_perplexity":9.5}
            """#
        #expect(putPoint(created.id, token: token, fields).status == .ok)
        for path in ["/api/training/jobs/\(created.id)/metrics", "/api/training/local/\(created.id)/metrics"] {
            let object = try env.get(path, headers: key).object()
            let points = try #require((object["data"] ?? object["metrics"])?.arrayValue)
            let point = try #require(points.first?.dictionary)
            let expected: [String: JSONValue] = [
                "step": .int(1), "epoch": .double(0.5), "train_loss": .double(2.5), "eval_loss": .double(2.25), "learning_rate": .double(0.0002),
                "grad_norm": .double(1.5), "gpu_memory_allocated_gb": .double(20.5), "gpu_memory_reserved_gb": .double(22.5),
                "gpu_utilization_percent": .double(97.5), "samples_per_second": .double(12.5), "tokens_per_second": .double(3000.5),
                "train_perplexity": .double(12.25), "eval_perplexity": .double(9.5),
            ]
            for (name, value) in expected { #expect(point[name] == value, "\(path) \(name)") }
        }

        // Held: another claim is a 409; the poll no longer offers it.
        let again = claim(created.id, by: "agent_claim02")
        #expect(try again.status.code == 409 && (again.object()["code"]) == .string("ALREADY_CLAIMED"))
        #expect(try poll("agent_claim02")["job"] == .null)
    }

    @Test func aRegisteredTrainersJobClaimedByAnAgentIsTheAgentsAlone() throws {
        let registered = env.postJSON("/api/training/local/jobs", #"{"job_id":"local_run_1","model_name":"m"}"#, headers: key)
        let body = try registered.object()
        let id = try #require(body["id"]?.stringValue)
        let localToken = try #require(body["job_token"]?.stringValue)
        #expect(try poll("agent_local01")["job"]?.dictionary?["id"] == .string(id), "a pending registered job is queued")
        let token = try claimToken(id, by: "agent_local01")
        let old = putPoint("local_run_1", token: localToken, #"{"step":1}"#)
        #expect(try old.status.code == 409 && (old.object()["code"]) == .string("JOB_REASSIGNED"))
        let again = env.postJSON("/api/training/local/jobs", #"{"job_id":"local_run_1","model_name":"changed"}"#, headers: key)
        #expect(try again.status.code == 409 && (again.object()["code"]) == .string("JOB_REASSIGNED"))
        #expect(try stored(id).modelName == "m")
        #expect(putPoint("local_run_1", token: token, #"{"step":1}"#).status == .ok)
    }

    @Test func aClaimOfNoQueuedJobSaysWhy() throws {
        let other = newUserID()
        let otherKey = ["X-API-Key": try env.insertKey(userID: other, scopes: [.training]).key]
        let theirs = try job(headers: otherKey)
        for id in [theirs.id, UUID().uuidString.lowercased(), "not-a-uuid"] {
            let response = claim(id, by: "agent_why01")
            #expect(try response.status.code == 404 && (response.object()["code"]) == .string("JOB_NOT_FOUND"), "\(id)")
        }
        let cancelled = try job()
        #expect(env.send("POST", "/api/training/jobs/\(cancelled.id)/cancel", headers: key).status == .ok)
        let response = claim(cancelled.id, by: "agent_why01")
        #expect(response.status.code == 409)
        let body = try response.object()
        #expect(body["code"] == .string("INVALID_STATUS") && body["error"]?.stringValue?.contains("cancelled") == true)
        #expect(try env.store.trainingJobs.find(id: theirs.id, userID: other)?.isQueued == true)
    }

    @Test func ofConcurrentClaimsOfOneJobExactlyOneWins() throws {
        for round in 0..<5 {
            let created = try job("race-\(round)")
            let outcomes = Locked([Int]())
            let start = DispatchSemaphore(value: 0)
            let done = DispatchGroup()
            for thread in 0..<8 {
                done.enter()
                Thread {
                    start.wait()
                    let status = claim(created.id, by: "agent_race\(thread)0").status.code
                    outcomes.withLock { $0.append(status) }
                    done.leave()
                }.start()
            }
            for _ in 0..<8 { start.signal() }
            done.wait()
            let all = outcomes.withLock { $0 }
            #expect(all.filter { $0 == 200 }.count == 1 && all.filter { $0 == 409 }.count == 7, "\(all)")
            #expect(try stored(created.id).attempts == 1)
        }
    }

    @Test func aLapsedLeaseRequeuesTheJobAndRetiresItsToken() throws {
        let created = try job()
        let token = try claimToken(created.id, by: "agent_lost01")
        #expect(putPoint(created.id, token: token, #"{"step":1,"train_loss":2.0}"#).status == .ok)
        let lease = try #require(try stored(created.id).leaseExpiresAt)

        // Not yet lapsed: the sweep leaves it.
        let early = try env.store.trainingAgents.sweepLapsedLeases(now: lease.adding(seconds: -1), maxAttempts: 2, limit: 100) { _ in "x" }
        #expect(early.isEmpty)
        let lost = try env.store.trainingAgents.sweepLapsedLeases(now: lease.adding(seconds: 1), maxAttempts: 2, limit: 100) { lost in
            lost.logLine(at: lease, terms: AgentLeaseTerms(leaseSeconds: 60, maxAttempts: 2))
        }
        #expect(lost == [LostAgent(jobID: created.id, userID: user, agentID: "agent_lost01", attempt: 1, failed: false)])
        let requeued = try stored(created.id)
        #expect(requeued.status == .pending && requeued.agentID == nil && requeued.attempts == 1 && requeued.leaseExpiresAt == nil)
        #expect(requeued.currentStep == 1, "its progress is kept")
        let logs = try env.get("/api/training/local/\(created.id)/logs", headers: key).object()
        let line = try #require(logs["logs"]?.arrayValue?.last?.stringValue)
        #expect(line.contains("Agent agent_lost01 lost") && line.contains("attempt 1 of 2") && line.contains("[WARNING]"), "\(line)")

        let refused = putPoint(created.id, token: token, #"{"step":2}"#)
        #expect(try refused.status.code == 409 && (refused.object()["code"]) == .string("JOB_REASSIGNED"))
        #expect(try stored(created.id).currentStep == 1)
        // A write authenticated before the sweep and run after it is refused in its own transaction, storing nothing.
        let lateLines = try env.get("/api/training/local/\(created.id)/logs", headers: key).object()["total_lines"]
        #expect(throws: JobReassignedError.self) {
            try env.store.trainingLogs.append(jobID: created.id, lines: ["late"], keep: 100, heldWith: JobToken.hash(token))
        }
        #expect(try env.get("/api/training/local/\(created.id)/logs", headers: key).object()["total_lines"] == lateLines)
        let late = TrainingPrediction(
            id: UUID().uuidString.lowercased(), jobID: created.id, epoch: 1, step: 1, sampleIndex: 0, prompt: "p", prediction: "q", createdAt: .now())
        #expect(throws: JobReassignedError.self) { try env.store.trainingPredictions.upsert([late], heldWith: JobToken.hash(token)) }
        #expect(try env.store.trainingPredictions.list(jobID: created.id, epoch: nil, limit: 10, offset: 0).totalCount == 0)
        #expect(try poll("agent_next01")["job"]?.dictionary?["id"] == .string(created.id))

        // The next agent's claim is attempt 2, the last: losing it fails the job.
        let second = try claimToken(created.id, by: "agent_next01")
        #expect(try stored(created.id).attempts == 2)
        #expect(putPoint(created.id, token: second, #"{"step":2}"#).status == .ok)
        let final = try env.store.trainingAgents.sweepLapsedLeases(now: .now().adding(seconds: 61), maxAttempts: 2, limit: 100) { _ in
            "[2026-12-07 00:00:00] [ftapi] [ERROR] [agent] lost"
        }
        #expect(final.map(\.failed) == [true])
        let failed = try stored(created.id)
        #expect(failed.status == .failed && failed.errorMessage == "agent lost" && failed.completedAt != nil && failed.agentID == "agent_next01")
        #expect(putPoint(created.id, token: second, #"{"step":3}"#).status.code == 409)
        // No agent holds it now: a claim is told its status, not that it is claimed.
        let ended = claim(created.id, by: "agent_next02")
        #expect(try ended.status.code == 409 && (ended.object()["code"]) == .string("INVALID_STATUS"))
        let errors = try env.get("/api/training/local/\(created.id)/errors", headers: key).object()
        #expect(errors["error_summary"] == .string("agent lost"))
    }

    @Test func theSweepOfTheApplicationUsesTheConfiguredLease() throws {
        let short = try TestEnvironment(agents: AgentSettings(lease: AgentLeaseTerms(leaseSeconds: 1, maxAttempts: 3)))
        let headers = ["X-API-Key": try short.insertKey(userID: user, scopes: [.training]).key, "X-Agent-ID": "agent_short01"]
        let created = try #require(try short.postJSON("/api/training/jobs", #"{"model_name":"m"}"#, headers: headers).object()["data"]?.dictionary)
        let id = try #require(created["id"]?.stringValue)
        #expect(short.send("POST", "/api/training/agent/claim/\(id)", headers: headers).status == .ok)
        short.app.sweepLeases()
        #expect(try short.store.trainingJobs.find(id: id, userID: user)?.status == .running)
        Thread.sleep(forTimeInterval: 1.2)
        short.app.sweepLeases()
        let requeued = try #require(try short.store.trainingJobs.find(id: id, userID: user))
        #expect(requeued.isQueued && requeued.attempts == 1)
    }

    @Test func pollsAndWritesOfTheHolderRenewTheLease() throws {
        // A lease of 2 s is renewed once 0.2 s of it has passed (a tenth): each step below waits that long.
        let short = try TestEnvironment(agents: AgentSettings(lease: AgentLeaseTerms(leaseSeconds: 2, maxAttempts: 3)))
        let apiKey = ["X-API-Key": try short.insertKey(userID: user, scopes: [.training]).key]
        let created = try #require(try short.postJSON("/api/training/jobs", #"{"model_name":"m"}"#, headers: apiKey).object()["data"]?.dictionary)
        let id = try #require(created["id"]?.stringValue)
        let claimed = short.send("POST", "/api/training/agent/claim/\(id)", headers: apiKey.merging(["X-Agent-ID": "agent_alive01"]) { $1 })
        let token = try #require(try claimed.object()["job_token"]?.stringValue)
        func lease() throws -> Timestamp { try #require(try short.store.trainingJobs.find(id: id, userID: user)?.leaseExpiresAt) }
        func pollBy(_ agentID: String) { _ = short.get("/api/training/agent/poll", headers: apiKey.merging(["X-Agent-ID": agentID]) { $1 }) }

        var last = try lease()
        Thread.sleep(forTimeInterval: 0.3)
        pollBy("agent_other01")
        #expect(try lease() == last, "another agent's poll renews nothing")
        pollBy("agent_alive01")
        #expect(try lease() > last.adding(seconds: 0.25), "the holder's poll renews it")
        last = try lease()
        Thread.sleep(forTimeInterval: 0.3)
        let write = short.send(
            "PUT", "/api/training/local/\(id)/metrics", headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
            body: Array(#"{"step":1}"#.utf8))
        #expect(write.status == .ok)
        #expect(try lease() > last.adding(seconds: 0.25), "a write with its token renews it")
        // Past the lease without either, the sweep takes it back.
        Thread.sleep(forTimeInterval: 2.1)
        short.app.sweepLeases()
        #expect(try short.store.trainingJobs.find(id: id, userID: user)?.isQueued == true)
    }

    @Test func aJobThatEndsDropsItsLease() throws {
        let created = try job()
        let token = try claimToken(created.id, by: "agent_ends01")
        #expect(try stored(created.id).leaseExpiresAt != nil)
        #expect(complete(created.id, token: token).status == .ok)
        #expect(try stored(created.id).leaseExpiresAt == nil)
        // A store change can't move a lease: leases are the claims' and the sweeps' alone.
        _ = try env.store.trainingJobs.update(id: created.id, userID: user) { $0.leaseExpiresAt = .now() }
        #expect(try stored(created.id).leaseExpiresAt == nil)
        #expect(try env.store.trainingAgents.sweepLapsedLeases(now: .now().adding(seconds: 3600), maxAttempts: 3, limit: 10) { _ in "" }.isEmpty)
    }

    @Test func aCancelledHeldJobReachesItsAgentsNextPoll() throws {
        let created = try job()
        let token = try claimToken(created.id, by: "agent_cancel01")
        #expect(try poll("agent_cancel01")["cancelled"] == .array([]))
        #expect(env.send("POST", "/api/training/jobs/\(created.id)/cancel", headers: key).status == .ok)
        #expect(try poll("agent_cancel01")["cancelled"] == .array([.string(created.id)]))
        #expect(try poll("agent_cancel02")["cancelled"] == .array([]))
        let write = putPoint(created.id, token: token, #"{"step":1}"#)
        #expect(write.status.code == 409)
        let trainer = ["Authorization": "Bearer \(token)"]
        let logs = env.postJSON("/api/training/local/\(created.id)/logs", #"{"logs":["after the cancel"]}"#, headers: trainer)
        #expect(try logs.status.code == 409 && (logs.object()["code"]) == .string("JOB_TERMINAL"))
        let predictions = env.postJSON(
            "/api/training/local/predictions",
            #"{"job_id":"\#(created.id)","predictions":[{"epoch":1,"step":1,"sample_index":0,"prompt":"p","prediction":"q"}]}"#, headers: trainer)
        #expect(predictions.status.code == 409)
        #expect(try env.get("/api/training/local/\(created.id)/logs", headers: key).object()["total_lines"] == .int(0))
        let cancelled = try stored(created.id)
        #expect(cancelled.status == .cancelled && cancelled.agentID == "agent_cancel01" && cancelled.leaseExpiresAt == nil)
    }

    @Test func theAgentsDetailListsItsJobsAndDeletingItRequeuesThem() throws {
        let done = try job("done")
        let doneToken = try claimToken(done.id, by: "agent_del01")
        #expect(complete(done.id, token: doneToken).status == .ok)
        let held = try job("held")
        let heldToken = try claimToken(held.id, by: "agent_del01")
        let listed = try #require(try env.get("/api/training/agents", headers: key).object()["agents"]?.arrayValue?.first?.dictionary)
        #expect(listed["job_ids"] == .array([.string(held.id)]))
        let detail = try env.get("/api/training/agents/agent_del01", headers: key).object()
        #expect(detail["agent"]?.dictionary?["agent_id"] == .string("agent_del01"))
        #expect(detail["jobs"]?.arrayValue?.compactMap { $0.dictionary?["id"] } == [.string(held.id), .string(done.id)])

        #expect(env.send("DELETE", "/api/training/agents/agent_del01", headers: key).status == .ok)
        #expect(env.send("DELETE", "/api/training/agents/agent_del01", headers: key).status.code == 404)
        #expect(env.get("/api/training/agents/agent_del01", headers: key).status.code == 404)
        #expect(try stored(held.id).isQueued && (stored(done.id)).status == .completed)
        #expect(putPoint(held.id, token: heldToken, #"{"step":1}"#).status.code == 409)
    }

    @Test func aJobWithAStoredDatasetCarriesAURLThatNeedsNoHeader() throws {
        let uploaded = env.sendStreamed(
            "POST", "/api/datasets", query: "name=agent-set", headers: key.merging(["Content-Type": "application/x-ndjson"]) { $1 },
            body: Self.dataset)
        let datasetID = try #require(try uploaded.object()["data"]?.dictionary?["id"]?.stringValue)
        let created = try job(dataset: datasetID)
        let offered = try #require(try poll("agent_data01", extra: ["Host": "api.test:8080"])["job"]?.dictionary)
        let url = try #require(offered["dataset_url"]?.stringValue)
        #expect(url.hasPrefix("http://api.test:8080/api/datasets/download?token="))
        #expect(offered["dataset_path"] == .string(url) && offered["dataset_url_expires_at"] != .null)
        let token = String(url.split(separator: "=", maxSplits: 1)[1])

        let download = env.get("/api/datasets/download", query: "token=\(token)")
        #expect(download.status == .ok && download.header("X-Accel-Redirect") == "/_ftapi/datasets/\(datasetID).jsonl")
        // Debian's fastcgi_params passes Host without its port: the port comes from SERVER_PORT, the scheme's own left out.
        for (scheme, port, origin) in [
            ("https", "8443", "https://api.test:8443"), ("https", "443", "https://api.test"), ("http", "80", "http://api.test"),
        ] {
            let request = Request(
                method: "GET", path: "/api/training/agent/poll", headers: HeaderFields(agent("agent_data01").merging(["Host": "api.test"]) { $1 }),
                scheme: scheme, serverPort: port)
            let polled = try env.app.responder.respond(to: request).object()
            #expect(polled["job"]?.dictionary?["dataset_url"]?.stringValue?.hasPrefix(origin + "/api/datasets/download?token=") == true, "\(origin)")
        }
        // The claim's job has one too; a job's own dataset_path wins over it.
        let claimed = try #require(try claim(created.id, by: "agent_data01").object()["job"]?.dictionary)
        #expect(claimed["dataset_url"]?.stringValue?.contains("/api/datasets/download?token=") == true)

        let missing = env.get("/api/datasets/download")
        #expect(try missing.status.code == 400 && (missing.object()["error"]) == .string("Missing token parameter"))
        var forged = Array(token.utf8)
        forged[forged.count / 3] = forged[forged.count / 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        for bad in [String(decoding: forged, as: UTF8.self), token + "x", "x" + token, "garbage", token.replacingOccurrences(of: ".", with: "")] {
            let response = env.get("/api/datasets/download", query: "token=\(bad)")
            #expect(try response.status.code == 401 && (response.object()["error"]) == .string("Invalid or expired token"), "\(bad)")
        }
        // Deleted with its dataset (the job ends first: a running job holds its dataset).
        #expect(env.send("POST", "/api/training/jobs/\(created.id)/cancel", headers: key).status == .ok)
        #expect(env.send("DELETE", "/api/datasets/\(datasetID)", headers: key).status == .ok)
        let gone = env.get("/api/datasets/download", query: "token=\(token)")
        #expect(try gone.status.code == 401 && (gone.object()["error"]) == .string("Invalid or expired token"))
    }

    @Test func aDatasetURLExpiresAndTakesThePublicOrigin() throws {
        let expiring = try TestEnvironment(agents: AgentSettings(datasetURLSeconds: 1, publicURL: "https://api.example.com"))
        let headers = ["X-API-Key": try expiring.insertKey(userID: user, scopes: [.training, .datasets]).key, "X-Agent-ID": "agent_ttl01"]
        let uploaded = expiring.sendStreamed(
            "POST", "/api/datasets", query: "name=ttl", headers: headers.merging(["Content-Type": "application/x-ndjson"]) { $1 }, body: Self.dataset)
        let datasetID = try #require(try uploaded.object()["data"]?.dictionary?["id"]?.stringValue)
        _ = expiring.postJSON("/api/training/jobs", #"{"model_name":"m","dataset_id":"\#(datasetID)"}"#, headers: headers)
        let offered = try #require(try expiring.get("/api/training/agent/poll", headers: headers).object()["job"]?.dictionary)
        let url = try #require(offered["dataset_url"]?.stringValue)
        #expect(url.hasPrefix("https://api.example.com/api/datasets/download?token="))
        let token = String(url.split(separator: "=", maxSplits: 1)[1])
        #expect(expiring.get("/api/datasets/download", query: "token=\(token)").status == .ok)
        Thread.sleep(forTimeInterval: 1.1)
        let expired = expiring.get("/api/datasets/download", query: "token=\(token)")
        #expect(try expired.status.code == 401 && (expired.object()["error"]) == .string("Token has expired"))
        // The token of one environment's key is not another's: the key is made per database.
        #expect(env.get("/api/datasets/download", query: "token=\(token)").status.code == 401)
    }
}
