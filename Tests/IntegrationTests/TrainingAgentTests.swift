import Foundation
import Testing

/// The training agents' routes (the contract's "Training agents: queued jobs reach GPU machines") through real nginx and
/// the real pool, driven by an agent that talks as the platform's own does: `Tests/TrainingAgent/agent.py`.
@Suite("training agents through nginx", .serialized)
struct TrainingAgentTests {
    static let script = TestCluster.repository.appendingPathComponent("Tests/TrainingAgent/agent.py").path
    static let jsonl = "application/x-ndjson"
    static let pointFields = [
        "step", "epoch", "train_loss", "eval_loss", "learning_rate", "grad_norm", "gpu_memory_allocated_gb", "gpu_memory_reserved_gb",
        "gpu_utilization_percent", "samples_per_second", "tokens_per_second", "train_perplexity", "eval_perplexity",
    ]
    static let jobFields: Set = [
        "id", "model_name", "dataset_path", "dataset_url", "dataset_url_expires_at", "config", "total_epochs", "total_steps", "created_at",
    ]

    @Test func anAgentDrainsTheQueue() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = try cluster.createKey(user: user, scopes: "training")
        let auth = ["X-API-Key": key]
        let session = ["Authorization": "Bearer \(try cluster.sessionToken(user: user))"]
        let otherKey = ["X-API-Key": try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")]
        let client = cluster.client()

        // Another user's job, older than all of these: never this agent's.
        let foreign = try #require(try client.postJSON("/api/training/jobs", #"{"model_name":"not-yours"}"#, headers: otherKey).json["id"] as? String)
        let file = Self.dataset(lines: 40)
        let uploaded = try client.send(
            "POST", "/api/datasets?name=agent-data&format=chatml", headers: session.merging(["Content-Type": Self.jsonl]) { $1 }, body: file)
        #expect(uploaded.status == 201, "\(uploaded.text)")
        let datasetID = try #require(uploaded.json["id"] as? String)

        // Three jobs through the contract's route (one with the stored dataset), one through FineTune Lab's with a path of its
        // own, and one made running there (not queued).
        let bodies = [
            #"{"model_name":"plain-1","config":{"lr":0.0002,"lora_r":16},"total_steps":3,"total_epochs":2}"#,
            #"{"model_name":"with-data","dataset_id":"\#(datasetID)","total_steps":3}"#, #"{"model_name":"plain-2"}"#,
        ]
        var ids: [String] = []
        for (index, body) in bodies.enumerated() {
            // A second between the first two and the rest: the order by created_at shows in the jobs' own (second) timestamps.
            if index == 2 { usleep(1_100_000) }
            let created = try client.postJSON("/api/training/jobs", body, headers: auth)
            #expect(created.status == 201, "\(created.text)")
            let data = try #require(created.json["data"] as? [String: Any])
            #expect(data["agent_id"] is NSNull && data["claimed_at"] is NSNull && Self.number(data["attempts"]) == 0, "\(created.text)")
            ids.append(try #require(created.json["id"] as? String))
        }
        let local = try client.postJSON(
            "/api/training/local/jobs", #"{"job_id":"agent_local_001","model_name":"local","dataset_path":"./data/local.jsonl"}"#, headers: auth)
        #expect(local.status == 200, "\(local.text)")
        let running = try client.postJSON("/api/training/local/jobs", #"{"job_id":"agent_local_running","status":"running"}"#, headers: auth)
        #expect(running.status == 200, "\(running.text)")
        let listed = try client.get("/api/training/jobs?limit=200", headers: auth).json["data"] as? [[String: Any]] ?? []
        let byExternal = Dictionary(listed.compactMap { job in (job["external_id"] as? String).map { ($0, job) } }) { first, _ in first }
        let localID = try #require(byExternal["agent_local_001"]?["id"] as? String)
        let runningID = try #require(byExternal["agent_local_running"]?["id"] as? String)
        ids.append(localID)
        var before: [String: [String: Any]] = [:]
        for id in ids { before[id] = try #require(try client.get("/api/training/jobs/\(id)", headers: auth).json["data"] as? [String: Any]) }
        // The queue's order: created_at, then id. The jobs show created_at to the second; a store that keeps it finer takes
        // the jobs of one second in the order they were made.
        let queue = ids.sorted { (before[$0]?["created_at"] as? String ?? "", $0) < (before[$1]?["created_at"] as? String ?? "", $1) }

        let agentID = "agent_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let downloads = cluster.directory + "/downloads"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        let output = try Self.runAgent(
            ["loop"], cluster: cluster, credential: key, environment: ["FTAPI_AGENT_ID": agentID, "FTAPI_DOWNLOAD_DIR": downloads])
        let resultLine = try #require(output.split(separator: "\n").first { $0.hasPrefix("RESULT ") }, "\(output)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(resultLine.dropFirst(7).utf8)) as? [String: Any])
        let records = result["jobs"] as? [[String: Any]] ?? []
        #expect(result["agent_id"] as? String == agentID)
        let taken = records.compactMap { $0["id"] as? String }
        #expect(taken == queue || taken == ids, "the agent took the jobs in another order than oldest first: \(taken), made \(ids)")

        let origin = "http://127.0.0.1:\(cluster.port)/"
        for record in records {
            let id = try #require(record["id"] as? String)
            let polled = try #require(record["polled"] as? [String: Any])
            let claimed = try #require(record["claimed"] as? [String: Any])
            let resource = try #require(before[id])
            for job in [polled, claimed] {
                #expect(Self.jobFields.isSubset(of: job.keys), "\(job)")
                for field in ["model_name", "total_steps", "total_epochs", "created_at", "config"] {
                    #expect(
                        Self.sameValue(job[field], resource[field]),
                        "\(field) of \(id): \(job[field] ?? "absent"), not \(resource[field] ?? "absent")")
                }
                switch id {
                case ids[1]:
                    let url = try #require(job["dataset_url"] as? String, "\(job)")
                    #expect(url.hasPrefix(origin + "api/"), "\(url) is not on the request's own origin \(origin)")
                    #expect(job["dataset_path"] as? String == url)
                    let expires = try #require(Self.date(job["dataset_url_expires_at"]), "\(job)")
                    #expect(abs(expires.timeIntervalSinceNow - 7200) < 120, "dataset_url_expires_at \(expires): not the default 2 h from now")
                case localID:
                    #expect(job["dataset_path"] as? String == "./data/local.jsonl")
                    #expect(job["dataset_url"] is NSNull)
                default:
                    #expect(job["dataset_path"] is NSNull && job["dataset_url"] is NSNull && job["dataset_url_expires_at"] is NSNull, "\(job)")
                }
            }
            // The dataset came with no header at all.
            if id == ids[1] {
                let downloaded = try #require(record["dataset"] as? [String: Any])
                let path = try #require(downloaded["path"] as? String, "the agent could not download its dataset: \(downloaded["error"] ?? "")")
                #expect(FileManager.default.contents(atPath: path).map { Array($0) } == file, "the downloaded bytes differ from the upload")
                #expect(downloaded["content_type"] as? String == Self.jsonl)
                #expect(downloaded["etag"] as? String == "\"\(DatasetEndpointsTests.hex(file))\"")
            } else {
                #expect(record["dataset"] is NSNull)
            }

            let job = try #require(try client.get("/api/training/jobs/\(id)", headers: auth).json["data"] as? [String: Any])
            #expect(job["status"] as? String == "completed", "\(job)")
            #expect(job["agent_id"] as? String == agentID && Self.number(job["attempts"]) == 1, "\(job)")
            for field in ["claimed_at", "started_at", "completed_at"] { #expect(Self.date(job[field]) != nil, "\(field): \(job)") }
            #expect(Self.number(job["current_step"]) == 3, "\(job)")

            // Every field of every point, by both routes.
            let sent = record["points"] as? [[String: Any]] ?? []
            let contractPoints = try client.get("/api/training/jobs/\(id)/metrics", headers: auth).json["data"] as? [[String: Any]]
            let localAnswer = try client.get("/api/training/local/\(id)/metrics", headers: auth)
            #expect(localAnswer.status == 200)
            #expect(localAnswer.json["job_id"] as? String == (id == localID ? "agent_local_001" : id))
            for (route, points) in [
                ("jobs/:id/metrics", contractPoints ?? []), ("local/:job/metrics", localAnswer.json["metrics"] as? [[String: Any]] ?? []),
            ] {
                #expect(points.count == sent.count, "\(route): \(points.count) points, \(sent.count) sent")
                for (returned, point) in zip(points, sent) { Self.expectSame(returned, point, route: route) }
            }
            let logs = try client.get("/api/training/local/\(id)/logs?limit=1000", headers: auth).json["logs"] as? [String] ?? []
            let lines = record["logs"] as? [String] ?? []
            #expect(!lines.isEmpty && logs.filter(lines.contains) == lines, "\(logs)")
        }

        // Not queued: another user's job, a running job.
        let theirs = try client.get("/api/training/jobs/\(foreign)", headers: otherKey).json["data"] as? [String: Any]
        #expect(theirs?["status"] as? String == "pending" && theirs?["agent_id"] is NSNull && Self.number(theirs?["attempts"]) == 0)
        let stillRunning = try client.get("/api/training/jobs/\(runningID)", headers: auth).json["data"] as? [String: Any]
        #expect(stillRunning?["status"] as? String == "running" && stillRunning?["agent_id"] is NSNull)

        // The agent, as its user sees it.
        let agents = try client.get("/api/training/agents", headers: auth)
        #expect(agents.status == 200)
        #expect(Self.number(agents.json["online_threshold_seconds"]) == 60)
        let list = agents.json["agents"] as? [[String: Any]] ?? []
        #expect(list.count == 1, "\(agents.text)")
        let agent = list.first ?? [:]
        #expect(agent["agent_id"] as? String == agentID)
        #expect(
            agent["hostname"] as? String == "gpu-box-7" && agent["platform"] as? String == "Linux-6.8-x86_64"
                && agent["version"] as? String == "0.2.1")
        #expect(Self.date(agent["registered_at"]) != nil && Self.date(agent["last_poll_at"]) != nil, "\(agent)")
        #expect(agent["status"] as? String == "online" && agent["is_online"] as? Bool == true, "\(agent)")
        #expect((agent["job_ids"] as? [Any])?.isEmpty == true, "\(agent)")
        let one = try client.get("/api/training/agents/\(agentID)", headers: session)
        #expect(one.status == 200)
        #expect((one.json["agent"] as? [String: Any])?["agent_id"] as? String == agentID)
        let held = (one.json["jobs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(held.count == 4 && Set(held) == Set(ids), "\(one.text)")
        // Another user sees none of it.
        #expect((try client.get("/api/training/agents", headers: otherKey).json["agents"] as? [Any])?.isEmpty == true)
        #expect(try client.get("/api/training/agents/\(agentID)", headers: otherKey).status == 404)
    }

    @Test func racingAgentsClaimEachJobOnce() throws {
        let cluster = try TestCluster(workers: 2, threads: 4, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")
        print(try Self.runAgent(["race", "8", "40"], cluster: cluster, credential: key))
        print(try Self.runAgent(["claim-one", "10", "8"], cluster: cluster, credential: key))
    }

    @Test func aSilentAgentLosesItsJobAndOneThatShowsLifeKeepsIt() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"], environment: ["FTAPI_AGENT_LEASE_SECONDS": "2"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")
        print(try Self.runAgent(["lease"], cluster: cluster, credential: key, environment: ["FTAPI_LEASE_SECONDS": "2"]))
    }

    @Test func aJobFailsWhenItsLastAttemptsAgentIsLost() throws {
        let cluster = try TestCluster(
            extraArguments: ["--rate-limit", "0"], environment: ["FTAPI_AGENT_LEASE_SECONDS": "2", "FTAPI_AGENT_MAX_ATTEMPTS": "2"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")
        print(try Self.runAgent(["lease-max"], cluster: cluster, credential: key, environment: ["FTAPI_LEASE_SECONDS": "2"]))
    }

    @Test func aJobFailsAtTheDefaultThirdLostAgent() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"], environment: ["FTAPI_AGENT_LEASE_SECONDS": "2"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")
        print(
            try Self.runAgent(["lease-max"], cluster: cluster, credential: key, environment: ["FTAPI_LEASE_SECONDS": "2", "FTAPI_MAX_ATTEMPTS": "3"]))
    }

    @Test func cancellationReachesTheHolderAndADeletedAgentLetsGo() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        // A session: the agent's credential may be one too.
        print(try Self.runAgent(["cancel"], cluster: cluster, credential: try cluster.sessionToken(user: user)))
    }

    @Test func datasetURLsNeedNoCredentialAndCannotBeBent() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let session = ["Authorization": "Bearer \(try cluster.sessionToken(user: user))"]
        let agent = ["X-API-Key": try cluster.createKey(user: user, scopes: "training"), "X-Agent-ID": "agent_datasets01"]
        let client = cluster.client()
        let first = Self.dataset(lines: 300)
        let second = Self.dataset(lines: 30)
        var datasets: [String] = []
        for (name, file) in [("first", first), ("second", second)] {
            let uploaded = try client.send(
                "POST", "/api/datasets?name=\(name)", headers: session.merging(["Content-Type": Self.jsonl]) { $1 }, body: file)
            #expect(uploaded.status == 201, "\(uploaded.text)")
            datasets.append(try #require(uploaded.json["id"] as? String))
        }
        var jobs: [String] = []
        for dataset in datasets {
            let created = try client.postJSON("/api/training/jobs", #"{"model_name":"m","dataset_id":"\#(dataset)"}"#, headers: session)
            jobs.append(try #require(created.json["id"] as? String))
        }
        // The first job's URL from the poll, the second's once the first is claimed (the claim answers one of its own).
        let firstURL = try Self.datasetURL(try client.get("/api/training/agent/poll", headers: agent).json["job"])
        let claim = try client.send("POST", "/api/training/agent/claim/\(jobs[0])", headers: agent)
        #expect(claim.status == 200, "\(claim.text)")
        let claimedURL = try Self.datasetURL(claim.json["job"])
        let claimToken = try #require(claim.json["job_token"] as? String)
        let viaJob = try client.get("/api/training/jobs/\(jobs[0])/dataset", headers: ["Authorization": "Bearer \(claimToken)"])
        #expect(viaJob.status == 200 && viaJob.body == first, "the job's dataset with the claim's token: \(viaJob.status)")
        let secondURL = try Self.datasetURL(try client.get("/api/training/agent/poll", headers: agent).json["job"])

        // No header but Host: the bytes and headers as /content gives them, ranges, ETag.
        let sha256 = DatasetEndpointsTests.hex(first)
        for url in [firstURL, claimedURL] {
            let whole = try cluster.client().get(url)
            #expect(whole.status == 200, "\(whole.text)")
            #expect(whole.body == first)
            #expect(whole.header("Content-Type") == Self.jsonl)
            #expect(whole.header("Content-Length") == String(first.count))
            #expect(whole.header("ETag") == "\"\(sha256)\"")
            #expect(whole.header("Content-Disposition") == "attachment; filename=\"first.jsonl\"")
            #expect(whole.header("X-Accel-Redirect") == nil)
        }
        let range = try client.get(firstURL, headers: ["Range": "bytes=10-99"])
        #expect(range.status == 206)
        #expect(range.body == Array(first[10...99]))
        #expect(range.header("Content-Range") == "bytes 10-99/\(first.count)")
        #expect(try client.get(firstURL, headers: ["If-None-Match": "\"\(sha256)\""]).status == 304)
        #expect(try client.get(secondURL).body == second)

        // Bent tokens: one character changed, the first's token edited to name the second, the two spliced.
        let invalid = #"{"error":"Invalid or expired token"}"#
        let (path, token) = try Self.split(firstURL)
        let (_, secondToken) = try Self.split(secondURL)
        var bent = Self.forged(token).map { ($0, "one character changed") }
        let edits = Self.renamed(token, from: datasets[0], to: datasets[1])
        bent += edits.map { ($0, "edited to name the second dataset") }
        bent += Self.spliced(token, secondToken).map { ($0, "spliced with the second's token") }
        bent += [("abc", "garbage")]
        print("dataset URL token: \(token.count) characters; \(edits.count) edits that name the second dataset")
        for (candidate, what) in bent {
            let answer = try client.get("\(path)?token=\(candidate)")
            #expect(answer.status == 401, "\(what): \(candidate) → \(answer.status)")
            #expect(Self.sameJSON(answer.text, invalid), "\(what): \(answer.text)")
            #expect(answer.body != first && answer.body != second, "\(what)")
        }
        for request in [path, "\(path)?token=", "\(path)?other=\(token)"] {
            let missing = try client.get(request)
            #expect(missing.status == 400, "\(request)")
            #expect(Self.sameJSON(missing.text, #"{"error":"Missing token parameter"}"#), "\(request): \(missing.text)")
        }

        // A deleted dataset: its URLs stop working; the other's go on.
        #expect(try client.send("POST", "/api/training/jobs/\(jobs[0])/cancel", headers: session).status == 200)
        #expect(try client.send("DELETE", "/api/datasets/\(datasets[0])", headers: session).status == 200)
        for url in [firstURL, claimedURL] {
            let answer = try client.get(url)
            #expect(answer.status == 401 && Self.sameJSON(answer.text, invalid), "after the delete: \(answer.status) \(answer.text)")
        }
        #expect(try client.get(secondURL).body == second)
    }

    @Test func datasetURLsExpireAndTakeThePublicOrigin() throws {
        let cluster = try TestCluster(
            extraArguments: ["--rate-limit", "0"],
            environment: ["FTAPI_DATASET_URL_TTL_SECONDS": "1", "FTAPI_PUBLIC_URL": "https://train.example.com"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let session = ["Authorization": "Bearer \(try cluster.sessionToken(user: user))"]
        let client = cluster.client()
        let uploaded = try client.send(
            "POST", "/api/datasets?name=short", headers: session.merging(["Content-Type": Self.jsonl]) { $1 }, body: Self.dataset(lines: 5))
        let dataset = try #require(uploaded.json["id"] as? String)
        #expect(try client.postJSON("/api/training/jobs", #"{"model_name":"m","dataset_id":"\#(dataset)"}"#, headers: session).status == 201)
        let job = try client.get("/api/training/agent/poll", headers: session.merging(["X-Agent-ID": "agent_expiry01"]) { $1 }).json["job"]
        let url = try #require((job as? [String: Any])?["dataset_url"] as? String, "\(String(describing: job))")
        #expect(url.hasPrefix("https://train.example.com/api/"), "\(url) is not on FTAPI_PUBLIC_URL's origin")
        let expires = try #require(Self.date((job as? [String: Any])?["dataset_url_expires_at"]))
        #expect(expires.timeIntervalSinceNow > -1 && expires.timeIntervalSinceNow < 3, "expires at \(expires), TTL 1 s")

        let (path, token) = try Self.split(url)
        try cluster.waitFor("the dataset URL to expire", timeout: 10) { (try? client.get("\(path)?token=\(token)").status) != 200 }
        let expired = try client.get("\(path)?token=\(token)")
        #expect(expired.status == 401)
        #expect(Self.sameJSON(expired.text, #"{"error":"Token has expired"}"#), "\(expired.text)")
        // Forged and expired: forged first. The expiry pushed back a day, wherever the token shows it: no longer the token given.
        let expiry = String(Int(expires.timeIntervalSince1970))
        let later = Self.renamed(token, from: expiry, to: String(Int(expires.timeIntervalSince1970) + 86_400))
        print("dataset URL token: \(later.count) edits that push its expiry back")
        for candidate in Self.forged(token) + later {
            let answer = try client.get("\(path)?token=\(candidate)")
            #expect(answer.status == 401 && Self.sameJSON(answer.text, #"{"error":"Invalid or expired token"}"#), "\(answer.text)")
        }
    }

    @Test func agentRoutesCheckTheirCallers() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = try cluster.createKey(user: user, scopes: "training")
        let other = UUID().uuidString.lowercased()
        let otherKey = try cluster.createKey(user: other, scopes: "training")
        let noScope = try cluster.createKey(user: user, scopes: "analytics,datasets")
        let client = cluster.client()
        func agent(_ id: String, _ credential: [String: String] = [:]) -> [String: String] {
            (credential.isEmpty ? ["Authorization": "Bearer \(key)"] : credential).merging(["X-Agent-ID": id]) { $1 }
        }
        let poll = "/api/training/agent/poll"

        // X-Agent-ID: missing, malformed, and the edges of its format.
        let missing = #"{"error":"Missing X-Agent-ID header"}"#
        let malformed = #"{"error":"Invalid X-Agent-ID format. Expected: agent_xxxxx"}"#
        let unknownJob = UUID().uuidString.lowercased()
        for (method, path) in [("GET", poll), ("POST", "/api/training/agent/claim/\(unknownJob)")] {
            let answer = try client.send(method, path, headers: ["Authorization": "Bearer \(key)"])
            #expect(answer.status == 400 && Self.sameJSON(answer.text, missing), "\(method) \(path): \(answer.status) \(answer.text)")
            for bad in [
                "agent", "agent_", "agent_abc", "agent_" + String(repeating: "a", count: 95), "Agent_abcd", "AGENT_abcd", "xagent_abcd",
                "agent_abc.d", "agent_abc/d", "agent_ab%20cd", "agentabcdef", "agent_äbcd",
            ] {
                let answer = try client.send(method, path, headers: agent(bad))
                #expect(answer.status == 400 && Self.sameJSON(answer.text, malformed), "\(bad): \(answer.status) \(answer.text)")
            }
        }
        for good in ["agent_abcd", "agent_" + String(repeating: "Z", count: 94), "agent_a-b_9", "agent_____", "agent_0123456789abcdef"] {
            let answer = try client.get(poll, headers: agent(good))
            #expect(answer.status == 200, "\(good): \(answer.status) \(answer.text)")
        }

        // The credential: key (Bearer or X-API-Key) with scope training, or a session; nothing else.
        let session = ["Authorization": "Bearer \(try cluster.sessionToken(user: user))"]
        #expect(try client.get(poll, headers: agent("agent_cred0001", ["X-API-Key": key])).status == 200)
        #expect(try client.get(poll, headers: agent("agent_cred0001", session)).status == 200)
        let none = try client.get(poll, headers: ["X-Agent-ID": "agent_cred0001"])
        #expect(none.status == 401 && Self.sameJSON(none.text, #"{"error":"Missing authorization header"}"#), "\(none.text)")
        let scope = try client.get(poll, headers: agent("agent_cred0001", ["X-API-Key": noScope]))
        #expect(scope.status == 403 && scope.json["code"] as? String == "INSUFFICIENT_SCOPE", "\(scope.text)")
        #expect(try client.get(poll, headers: agent("agent_cred0001", ["Authorization": "Bearer wak_notakey"])).status == 401)

        // Other methods.
        let wrongMethod = try client.send("POST", poll, headers: agent("agent_cred0001"))
        #expect(wrongMethod.status == 405 && wrongMethod.header("Allow")?.contains("GET") == true, "\(wrongMethod.status)")
        let getClaim = try client.get("/api/training/agent/claim/\(unknownJob)", headers: agent("agent_cred0001"))
        #expect(getClaim.status == 405 && getClaim.header("Allow")?.contains("POST") == true, "\(getClaim.status)")

        // Another user's jobs: never in the poll, 404 to a claim; an empty queue says so.
        let theirs = try client.postJSON("/api/training/jobs", #"{"model_name":"theirs"}"#, headers: ["X-API-Key": otherKey])
        let theirID = try #require(theirs.json["id"] as? String)
        let theirToken = try #require((theirs.json["data"] as? [String: Any])?["job_token"] as? String)
        let empty = try client.get(poll, headers: agent("agent_shared01"))
        #expect(empty.status == 200 && empty.json["job"] is NSNull, "\(empty.text)")
        #expect(empty.json["message"] as? String == "No pending jobs available")
        #expect(Self.number(empty.json["poll_interval_seconds"]) == 10)
        #expect((empty.json["cancelled"] as? [Any])?.isEmpty == true, "\(empty.text)")
        for id in [theirID, unknownJob, "not-a-uuid"] {
            let answer = try client.send("POST", "/api/training/agent/claim/\(id)", headers: agent("agent_shared01"))
            #expect(answer.status == 404 && answer.json["code"] as? String == "JOB_NOT_FOUND", "\(id): \(answer.status) \(answer.text)")
        }
        let created = try client.postJSON("/api/training/jobs", #"{"model_name":"mine"}"#, headers: ["X-API-Key": key])
        let mine = try #require(created.json["id"] as? String)
        let creationToken = try #require((created.json["data"] as? [String: Any])?["job_token"] as? String)
        let polled = try client.get(poll, headers: agent("agent_shared01"))
        #expect((polled.json["job"] as? [String: Any])?["id"] as? String == mine, "\(polled.text)")
        #expect(Set((polled.json["job"] as? [String: Any] ?? [:]).keys).isSuperset(of: Self.jobFields), "\(polled.text)")
        for secret in [creationToken, theirToken, "job_token"] { #expect(!polled.text.contains(secret), "a poll answer with a token") }

        // The same agent id under two users: two agents, each with its own jobs.
        let theirPoll = try client.get(poll, headers: agent("agent_shared01", ["X-API-Key": otherKey]))
        #expect((theirPoll.json["job"] as? [String: Any])?["id"] as? String == theirID, "\(theirPoll.text)")
        let claimed = try client.send("POST", "/api/training/agent/claim/\(mine)", headers: agent("agent_shared01"))
        #expect(claimed.status == 200 && claimed.json["success"] as? Bool == true, "\(claimed.text)")
        let jobToken = try #require(claimed.json["job_token"] as? String)
        #expect(jobToken != creationToken)
        #expect(
            try client.send("POST", "/api/training/agent/claim/\(theirID)", headers: agent("agent_shared01", ["X-API-Key": otherKey])).status == 200)
        for (credential, job) in [(key, mine), (otherKey, theirID)] {
            let agents = try client.get("/api/training/agents", headers: ["X-API-Key": credential]).json["agents"] as? [[String: Any]] ?? []
            let shared = agents.filter { $0["agent_id"] as? String == "agent_shared01" }
            #expect(shared.count == 1 && shared.first?["job_ids"] as? [String] == [job], "\(agents)")
        }

        // The claim: running, started, held; a second claim (even by the holder) and a claim of a job that is not pending are 409s.
        let job = try #require(try client.get("/api/training/jobs/\(mine)", headers: ["X-API-Key": key]).json["data"] as? [String: Any])
        #expect(job["status"] as? String == "running" && job["agent_id"] as? String == "agent_shared01" && Self.number(job["attempts"]) == 1)
        #expect(Self.date(job["started_at"]) != nil && Self.date(job["claimed_at"]) != nil, "\(job)")
        for holder in ["agent_shared01", "agent_second01"] {
            let again = try client.send("POST", "/api/training/agent/claim/\(mine)", headers: agent(holder))
            #expect(again.status == 409 && again.json["code"] as? String == "ALREADY_CLAIMED", "\(again.text)")
        }
        // The job's earlier token stopped working at the claim; the claim's works.
        let point = Array(#"{"step":1,"train_loss":1.5}"#.utf8)
        let old = try client.send(
            "PUT", "/api/training/local/\(mine)/metrics", headers: ["Authorization": "Bearer \(creationToken)", "Content-Type": "application/json"],
            body: point)
        #expect(old.status == 401 || old.status == 409, "the creation token after the claim: \(old.status) \(old.text)")
        let new = try client.send(
            "PUT", "/api/training/local/\(mine)/metrics", headers: ["Authorization": "Bearer \(jobToken)", "Content-Type": "application/json"],
            body: Array(#"{"step":2,"train_loss":1.25}"#.utf8))
        #expect(new.status == 200, "\(new.text)")
        let points = try client.get("/api/training/jobs/\(mine)/metrics", headers: ["X-API-Key": key]).json["data"] as? [[String: Any]] ?? []
        #expect(points.compactMap { Self.number($0["step"]) } == [2], "the refused token wrote: \(points)")
        // The claim's token works on every trainer route.
        let trainer = ["Authorization": "Bearer \(jobToken)", "Content-Type": "application/json"]
        let writes = [
            ("POST", "/api/training/local/metrics", #"{"job_id":"\#(mine)","metrics":[{"step":3,"loss":1.0}]}"#),
            ("POST", "/api/training/jobs/\(mine)/metrics", #"{"metrics":[{"step":4,"train_loss":0.9}]}"#),
            ("PATCH", "/api/training/jobs/\(mine)", #"{"progress":40}"#), ("POST", "/api/training/local/\(mine)/logs", #"{"logs":["hello"]}"#),
            (
                "POST", "/api/training/local/predictions",
                #"{"job_id":"\#(mine)","predictions":[{"epoch":1,"step":4,"sample_index":0,"prompt":"p","prediction":"q"}]}"#
            ),
            ("PATCH", "/api/training/local/\(mine)/status", #"{"status":"paused"}"#),
            ("PATCH", "/api/training/local/\(mine)/status", #"{"status":"running"}"#),
        ]
        for (method, path, body) in writes {
            let answer = try client.send(method, path, headers: trainer, body: Array(body.utf8))
            #expect(answer.status == 200, "\(method) \(path) with the claim's token: \(answer.status) \(answer.text)")
        }
        let old2 = try client.send(
            "POST", "/api/training/local/\(mine)/logs", headers: ["Authorization": "Bearer \(creationToken)"], body: Array(#"{"logs":["x"]}"#.utf8))
        #expect(old2.status == 401 || old2.status == 409, "logs with the creation token after the claim: \(old2.status) \(old2.text)")
        // The claim's token is no key for the agent routes.
        #expect(try client.get(poll, headers: agent("agent_shared01", ["Authorization": "Bearer \(jobToken)"])).status == 401)

        let cancelledJob = try #require(
            try client.postJSON("/api/training/jobs", #"{"model_name":"gone"}"#, headers: ["X-API-Key": key]).json["id"] as? String)
        #expect(try client.send("POST", "/api/training/jobs/\(cancelledJob)/cancel", headers: ["X-API-Key": key]).status == 200)
        let startedElsewhere = try client.postJSON(
            "/api/training/local/jobs", #"{"job_id":"started_elsewhere","status":"running"}"#, headers: ["X-API-Key": key])
        #expect(startedElsewhere.status == 200)
        let listed = try client.get("/api/training/jobs?limit=200", headers: ["X-API-Key": key]).json["data"] as? [[String: Any]] ?? []
        let runningID = try #require(listed.first { $0["external_id"] as? String == "started_elsewhere" }?["id"] as? String)
        for (id, status) in [(cancelledJob, "cancelled"), (runningID, "running")] {
            let answer = try client.send("POST", "/api/training/agent/claim/\(id)", headers: agent("agent_second01"))
            #expect(answer.status == 409 && answer.json["code"] as? String == "INVALID_STATUS", "\(status): \(answer.text)")
            #expect(answer.text.contains(status), "INVALID_STATUS does not name \(status): \(answer.text)")
        }
        #expect(try client.get(poll, headers: agent("agent_second01")).json["job"] is NSNull)

        // Optional headers: stored, at most 200 characters.
        let described = agent("agent_described", ["X-API-Key": key]).merging([
            "X-Agent-Hostname": "gpu-01.lab", "X-Agent-Platform": String(repeating: "p", count: 200), "X-Agent-Version": "1.2.3",
        ]) { $1 }
        #expect(try client.get(poll, headers: described).status == 200)
        let agents = try client.get("/api/training/agents", headers: ["X-API-Key": key]).json["agents"] as? [[String: Any]] ?? []
        let stored = agents.first { $0["agent_id"] as? String == "agent_described" }
        #expect(stored?["hostname"] as? String == "gpu-01.lab" && stored?["version"] as? String == "1.2.3", "\(agents)")
        #expect((stored?["platform"] as? String)?.count == 200)
        for header in ["X-Agent-Hostname", "X-Agent-Platform", "X-Agent-Version"] {
            let long = try client.get(poll, headers: agent("agent_described").merging([header: String(repeating: "x", count: 201)]) { $1 })
            #expect(long.status == 400, "\(header) of 201 characters: \(long.status) \(long.text)")
        }

        // Unknown agents; another user's agent.
        #expect(try client.get("/api/training/agents/agent_nobody000", headers: ["X-API-Key": key]).status == 404)
        #expect(try client.send("DELETE", "/api/training/agents/agent_nobody000", headers: ["X-API-Key": key]).status == 404)
        #expect(try client.get("/api/training/agents/agent_described", headers: ["X-API-Key": otherKey]).status == 404)
        #expect(try client.send("DELETE", "/api/training/agents/agent_described", headers: ["X-API-Key": otherKey]).status == 404)
        #expect(try client.get("/api/training/agents", headers: ["X-API-Key": noScope]).status == 403)
        #expect(try client.get("/api/training/agents").status == 401)
    }

    // MARK: - Helpers

    /// Runs agent.py with `arguments` against `cluster`'s nginx and returns its output; it must exit 0 with OK last.
    static func runAgent(_ arguments: [String], cluster: TestCluster, credential: String, environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["FTAPI_URL": "http://127.0.0.1:\(cluster.port)", "FTAPI_KEY": credential, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"].merging(
                environment
            ) { $1 }
        ) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "agent.py \(arguments.joined(separator: " ")): \(text)")
        #expect(text.hasSuffix("OK\n"), "agent.py \(arguments.joined(separator: " ")): \(text)")
        return text
    }

    /// A valid chatml dataset of `lines` lines.
    static func dataset(lines: Int) -> [UInt8] {
        Array(
            (0..<lines).map {
                #"{"messages":[{"role":"user","content":"What is \#($0) plus \#($0)?"},{"role":"assistant","content":"\#($0 * 2)"}]}"# + "\n"
            }
            .joined().utf8)
    }

    static func number(_ value: Any?) -> Double? {
        (value as? NSNumber)?.doubleValue
    }

    static func date(_ value: Any?) -> Date? {
        (value as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
    }

    /// Whether the JSON object `text` holds every string field of `expected` (keys the contract does not forbid, a
    /// code or details, may be added; the error text must be the one given).
    static func sameJSON(_ text: String, _ expected: String) -> Bool {
        guard let got = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
            let want = (try? JSONSerialization.jsonObject(with: Data(expected.utf8))) as? [String: String]
        else { return false }
        return want.allSatisfy { got[$0.key] as? String == $0.value }
    }

    /// The same JSON value, whatever the order of its keys.
    static func sameValue(_ one: Any?, _ two: Any?) -> Bool {
        func text(_ value: Any?) -> String? {
            guard let value, !(value is NSNull) else { return "null" }
            return (try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
        }
        return text(one) != nil && text(one) == text(two)
    }

    /// A returned point holds all 13 fields, each as sent (null where the agent left it out).
    static func expectSame(_ returned: [String: Any], _ sent: [String: Any], route: String) {
        for field in pointFields {
            guard let value = returned[field] else {
                Issue.record("\(route): no \(field) in \(returned)")
                continue
            }
            if let expected = sent[field] {
                #expect(number(value) == number(expected), "\(route) step \(sent["step"] ?? "?"): \(field) is \(value), sent \(expected)")
            } else {
                #expect(value is NSNull, "\(route): \(field) is \(value), never sent")
            }
        }
    }

    /// The poll's or claim's job's dataset_url, as a path and query to send to this nginx.
    static func datasetURL(_ job: Any?) throws -> String {
        let url = try #require((job as? [String: Any])?["dataset_url"] as? String, "no dataset_url in \(String(describing: job))")
        let parts = try #require(URLComponents(string: url))
        #expect(parts.percentEncodedPath == "/api/datasets/download", "\(url)")
        return parts.percentEncodedPath + "?" + (parts.percentEncodedQuery ?? "")
    }

    /// A dataset URL's path and its token (as it stands in the URL).
    static func split(_ url: String) throws -> (String, String) {
        let parts = try #require(URLComponents(string: url))
        let token = try #require(parts.percentEncodedQueryItems?.first { $0.name == "token" }?.value, "no token in \(url)")
        return (parts.percentEncodedPath, token)
    }

    /// The token with one character changed, at its start, middle and near its end (letters and digits only; not the
    /// last character, whose low bits may be padding).
    static func forged(_ token: String) -> [String] {
        let characters = Array(token)
        var result: [String] = []
        let changeable = characters.indices.dropLast().filter { characters[$0].isASCII && (characters[$0].isLetter || characters[$0].isNumber) }
        for start in [0, characters.count / 2, characters.count - 2] {
            guard let index = changeable.first(where: { $0 >= start }) else { continue }
            var copy = characters
            copy[index] = copy[index] == "A" ? "B" : "A"
            result.append(String(copy))
        }
        return Array(Set(result))
    }

    /// The token edited to name `to` instead of `from`, wherever it shows `from`: in plain text, as hex, or inside a
    /// base64url part.
    static func renamed(_ token: String, from: String, to: String) -> [String] {
        var result: [String] = []
        let plainFrom = from.replacingOccurrences(of: "-", with: "")
        let plainTo = to.replacingOccurrences(of: "-", with: "")
        for (old, new) in [(from, to), (plainFrom, plainTo), (from.uppercased(), to.uppercased())] where token.contains(old) {
            result.append(token.replacingOccurrences(of: old, with: new))
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        for (index, part) in parts.enumerated() {
            guard let decoded = base64URLDecoded(part), let text = String(data: decoded, encoding: .utf8) else { continue }
            for (old, new) in [(from, to), (plainFrom, plainTo)] where text.contains(old) {
                var edited = parts
                edited[index] = base64URLEncoded(Data(text.replacingOccurrences(of: old, with: new).utf8), padded: part.hasSuffix("="))
                result.append(edited.joined(separator: "."))
            }
        }
        return Array(Set(result))
    }

    /// The two tokens' parts crossed (when both have the same number of dot-separated parts).
    static func spliced(_ first: String, _ second: String) -> [String] {
        let one = first.split(separator: ".", omittingEmptySubsequences: false)
        let two = second.split(separator: ".", omittingEmptySubsequences: false)
        guard one.count == two.count, one.count > 1 else { return [] }
        return [(one.dropLast() + [two.last!]).joined(separator: "."), (two.dropLast() + [one.last!]).joined(separator: ".")]
    }

    static func base64URLDecoded(_ text: String) -> Data? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/").replacingOccurrences(of: "=", with: "")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard)
    }

    static func base64URLEncoded(_ data: Data, padded: Bool) -> String {
        let text = data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return padded ? text : text.replacingOccurrences(of: "=", with: "")
    }
}
