import API
import Foundation
import HTTPCore
import JSON
import Testing

/// FineTune Lab's job registration, status and metrics routes, in memory.
@Suite struct FineTuneLabJobTests {
    @Test func registrationCreatesOnceThenUpdatesWithTheSameToken() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let first = user.register(#"{"job_id":"local_training_001","model_name":"llama-3-8b","dataset_path":"./data/t.jsonl","config":{"epochs":3}}"#)
        #expect(first.status.code == 200, "\(first.text)")
        let created = try first.object()
        #expect(created["success"] == .bool(true) && created["persisted"] == .bool(true))
        #expect(created["job_id"] == .string("local_training_001") && created["user_id"] == .string(user.userID))
        let token = try #require(created["job_token"]?.stringValue)
        let id = try #require(created["id"]?.stringValue)

        // The same job in the contract's routes, pending, with its external id.
        var data = try #require(try user.get("/api/training/jobs/\(id)")["data"]?.dictionary)
        #expect(data["status"] == .string("pending") && data["external_id"] == .string("local_training_001"))
        #expect(data["model_name"] == .string("llama-3-8b") && data["dataset_path"] == .string("./data/t.jsonl"))
        #expect(data["config"] == .object(["epochs": .int(3)]))

        let again = try user.register(#"{"job_id":"local_training_001","status":"running","model_name":"llama-3-70b","total_steps":300}"#).object()
        #expect(again["job_token"] == .string(token) && again["id"] == .string(id))
        data = try #require(try user.get("/api/training/jobs/\(id)")["data"]?.dictionary)
        #expect(data["status"] == .string("running") && data["started_at"] != .null)
        #expect(data["model_name"] == .string("llama-3-70b") && data["total_steps"] == .int(300))
        #expect(data["dataset_path"] == .string("./data/t.jsonl"), "fields not given are kept")

        // The same status again changes nothing; an illegal one is the contract's 409.
        #expect(user.register(#"{"job_id":"local_training_001","status":"running"}"#).status.code == 200)
        #expect(
            user.send(
                "PATCH", "/api/training/local/local_training_001/status", #"{"status":"completed"}"#, headers: ["Authorization": "Bearer \(token)"]
            ).status.code == 200)
        let illegal = user.register(#"{"job_id":"local_training_001","status":"running"}"#)
        #expect(illegal.status.code == 409)
        #expect(try illegal.object()["code"] == .string("INVALID_STATUS_TRANSITION"))

        // Another user's job of the same name is another job.
        let other = try FineTuneLabUser(env)
        let theirs = try other.register(#"{"job_id":"local_training_001"}"#).object()
        #expect(theirs["id"] != .string(id) && theirs["job_token"] != .string(token))
    }

    @Test func concurrentRegistrationsOfOneJobMakeOneJobWithOneToken() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let names = (0..<4).map { "race-\($0)" }
        let answers = Locked([String: [String]]())
        let start = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for thread in 0..<8 {
            done.enter()
            Thread {
                start.wait()
                for name in names {
                    let response = user.register(#"{"job_id":"\#(name)","status":"running","model_name":"m\#(thread)"}"#)
                    let body = try? response.object()
                    let answer = "\(response.status.code) \(body?["id"]?.stringValue ?? "-") \(body?["job_token"]?.stringValue ?? "-")"
                    answers.withLock { $0[name, default: []].append(answer) }
                }
                done.leave()
            }.start()
        }
        for _ in 0..<8 { start.signal() }
        done.wait()
        for name in names {
            let seen = answers.withLock { $0[name] ?? [] }
            #expect(seen.count == 8 && Set(seen).count == 1 && seen.first?.hasPrefix("200 ") == true, "\(name): \(seen)")
        }
        let list = try user.get("/api/training/jobs", query: "limit=10")
        #expect(list["total"] == .int(4))
    }

    @Test func registrationChecksItsBody() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        for body in [
            #"{}"#, #"{"job_id":""}"#, #"{"job_id":"has space"}"#, #"{"job_id":"\#(String(repeating: "x", count: 201))"}"#, #"{"job_id":7}"#,
            #"{"job_id":"a","status":"done"}"#, #"{"job_id":"a","job_token":"short"}"#,
            #"{"job_id":"a","config":[1]}"#, #"{"job_id":"a","total_steps":0}"#,
        ] {
            let response = user.register(body)
            #expect(response.status.code == 400, "\(body): \(response.text)")
        }
        #expect(user.register(#"{"job_id":"\#(String(repeating: "x", count: 200))"}"#).status.code == 200)
        let queued = try user.register(#"{"job_id":"q.1:a-b","status":"queued"}"#).object()
        #expect(queued["status"] == .string("pending"))
        // A new job starts pending or running: another status it names does not start it.
        let finished = try user.register(#"{"job_id":"done-already","status":"completed"}"#).object()
        #expect(finished["status"] == .string("pending"))
        // A job token is not a credential for registering jobs.
        let (_, trainer) = try user.job("t")
        #expect(user.env.postJSON("/api/training/local/jobs", #"{"job_id":"u"}"#, headers: trainer).status.code == 401)
    }

    @Test func aChosenTokenIsTheJobsCredential() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let chosen = "my-trainer-token-0123456789abcdefghij"
        let object = try user.register(#"{"job_id":"chosen","job_token":"\#(chosen)"}"#).object()
        #expect(object["job_token"] == .string(chosen))
        let metrics = user.send(
            "POST", "/api/training/local/metrics", #"{"job_id":"chosen","metrics":[{"step":1,"loss":2.5}]}"#,
            headers: ["Authorization": "Bearer \(chosen)"])
        #expect(metrics.status.code == 200, "\(metrics.text)")
        // Another job can't take the same token.
        let taken = user.register(#"{"job_id":"other","job_token":"\#(chosen)"}"#)
        #expect(taken.status.code == 409)
    }

    @Test func metricsBatchesAreIdempotentAndMoveTheJob() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (id, trainer) = try user.job("run", status: "pending")
        #expect(user.register(#"{"job_id":"run","total_steps":8}"#).status.code == 200)
        let batch =
            #"{"job_id":"run","metrics":[{"step":1,"loss":2.5,"epoch":0.1},{"step":2,"train_loss":2.0,"eval_loss":2.2,"learning_rate":0.0002,"gpu_memory_reserved_gb":30.5,"perplexity":9.0,"train_perplexity":7.4}]}"#
        let response = user.send("POST", "/api/training/local/metrics", batch, headers: trainer)
        #expect(response.status.code == 200, "\(response.text)")
        #expect(try response.object() == ["success": .bool(true), "count": .int(2)])
        #expect(user.send("POST", "/api/training/local/metrics", batch, headers: trainer).status.code == 200)

        let history = try user.get("/api/training/local/run/metrics")
        #expect(history["job_id"] == .string("run"))
        let points = try #require(history["metrics"]?.arrayValue?.compactMap { $0.dictionary })
        #expect(points.count == 2, "a re-sent batch stores nothing new")
        #expect(points[0]["train_loss"] == .double(2.5) && points[0]["step"] == .int(1))
        #expect(points[1]["gpu_memory_reserved_gb"] == .double(30.5) && points[1]["train_perplexity"] == .double(7.4))
        #expect(points[1]["perplexity"] == .double(9.0))
        // The same history through the uuid, and through the contract's own list.
        #expect(try user.get("/api/training/local/\(id)/metrics")["metrics"] == history["metrics"])
        #expect(try user.get("/api/training/jobs/\(id)/metrics")["total"] == .int(2))
        #expect(try user.get("/api/training/local/run/metrics", query: "since_step=1")["metrics"]?.arrayValue?.count == 1)
        #expect(try user.get("/api/training/local/run/metrics", query: "limit=1&offset=1")["metrics"]?.arrayValue?.count == 1)

        let status = try user.get("/api/training/local/run/status")
        #expect(status["status"] == .string("running") && status["current_step"] == .int(2))
        #expect(status["loss"] == .double(2.0) && status["eval_loss"] == .double(2.2) && status["best_eval_loss"] == .double(2.2))
        #expect(status["learning_rate"] == .double(0.0002) && status["model_name"] == .string("llama-3-8b"))
        #expect(status["job_id"] == .string("run") && status["error"] == .null && status["started_at"] != .null)
        // The newest point's step and epoch move the job's progress and epoch.
        #expect(user.send("PUT", "/api/training/local/run/metrics", #"{"step":4,"epoch":1.5}"#, headers: trainer).status.code == 200)
        let moved = try user.get("/api/training/local/run/status")
        #expect(moved["progress"] == .double(50) && moved["current_epoch"] == .int(1) && moved["total_steps"] == .int(8))
    }

    @Test func theWholeHistoryComesBackAcrossStorePages() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (_, trainer) = try user.job("long")
        // 6,000 points: more than one page of the store's reads (5,000).
        for batch in 0..<6 {
            let points = (0..<1000).map { #"{"step":\#(batch * 1000 + $0),"loss":1.5}"# }.joined(separator: ",")
            let response = user.send("POST", "/api/training/local/metrics", #"{"job_id":"long","metrics":[\#(points)]}"#, headers: trainer)
            #expect(response.status.code == 200)
        }
        let history = try user.get("/api/training/local/long/metrics")
        let steps = try #require(history["metrics"]?.arrayValue?.map { $0.dictionary?["step"]?.intValue ?? -1 })
        #expect(steps == Array(0..<6000).map(Int64.init))
        #expect(history["total"] == .int(6000))
        let since = try user.get("/api/training/local/long/metrics", query: "since_step=4999")
        #expect(since["metrics"]?.arrayValue?.count == 1000 && since["total"] == .int(1000))
    }

    @Test func badPointsAre400AndStoreNothing() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (_, trainer) = try user.job("run")
        for points in [
            #"[{"step":1,"loss":NaN}]"#, #"[{"step":1,"train_loss":Infinity}]"#, #"[{"step":1,"loss":1,"train_loss":2}]"#, #"[{"loss":1}]"#,
            #"[{"step":1,"accuracy":1}]"#, #"[]"#,
        ] {
            let response = user.send("POST", "/api/training/local/metrics", #"{"job_id":"run","metrics":\#(points)}"#, headers: trainer)
            #expect(response.status.code == 400, "\(points): \(response.text)")
        }
        #expect(user.send("PUT", "/api/training/local/run/metrics", #"{"step":1,"loss":NaN}"#, headers: trainer).status.code == 400)
        #expect(try user.get("/api/training/local/run/metrics")["metrics"] == .array([]))
    }

    @Test func singlePointsThroughBothRoutes() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (id, trainer) = try user.job("run", status: "pending")
        let put = user.send("PUT", "/api/training/local/run/metrics", #"{"step":5,"loss":1.5}"#, headers: trainer)
        #expect(put.status.code == 200, "\(put.text)")
        #expect(try put.object() == ["success": .bool(true)])
        let single = user.send("POST", "/api/training/jobs/\(id)/metrics", #"{"step":6,"loss":1.25,"epoch":1}"#, headers: trainer)
        #expect(single.status.code == 200, "\(single.text)")
        #expect(try single.object() == ["success": .bool(true), "accepted": .int(1)])
        let data = try #require(try user.get("/api/training/jobs/\(id)")["data"]?.dictionary)
        #expect(data["status"] == .string("running") && data["current_step"] == .int(6) && data["train_loss"] == .double(1.25))
        // The contract's batch keeps its own fields: loss is not one.
        let batch = user.send("POST", "/api/training/jobs/\(id)/metrics", #"{"metrics":[{"step":7,"loss":1}]}"#, headers: trainer)
        #expect(batch.status.code == 400)
    }

    @Test func statusChangesFollowTheStateMachine() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (id, trainer) = try user.job("run", status: "pending")
        let path = "/api/training/local/run/status"
        #expect(user.send("PATCH", path, #"{"status":"pending"}"#, headers: trainer).status.code == 400)
        #expect(user.send("PATCH", path, #"{"status":"completed"}"#, headers: trainer).status.code == 409)
        #expect(user.send("PATCH", path, #"{"status":"running"}"#, headers: trainer).status.code == 200)
        let failed = user.send("PATCH", "/api/training/local/\(id)/status", #"{"status":"failed","error":"CUDA out of memory"}"#, headers: trainer)
        #expect(failed.status.code == 200, "\(failed.text)")
        let body = try failed.object()
        #expect(body["success"] == .bool(true) && body["status"] == .string("failed") && body["updated_at"]?.stringValue != nil)
        let status = try user.get(path)
        #expect(status["status"] == .string("failed") && status["error"] == .string("CUDA out of memory") && status["completed_at"] != .null)
        let metrics = user.send("POST", "/api/training/local/metrics", #"{"job_id":"run","metrics":[{"step":1}]}"#, headers: trainer)
        #expect(metrics.status.code == 409)
        #expect(try metrics.object()["code"] == .string("JOB_TERMINAL"))
    }

    @Test func aTokenReachesOnlyItsJobAndNoBodyUserIsACredential() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (_, mine) = try user.job("mine")
        let (otherID, _) = try user.job("other")
        // A token for another job of the same user: 401, whether the job is named by body or path.
        let crossed = user.send("POST", "/api/training/local/metrics", #"{"job_id":"other","metrics":[{"step":1}]}"#, headers: mine)
        #expect(crossed.status.code == 401)
        #expect(try crossed.object()["error"] == .string("Unauthorized"))
        for (method, path, body) in [
            ("PUT", "/api/training/local/other/metrics", #"{"step":1}"#), ("PATCH", "/api/training/local/\(otherID)/status", #"{"status":"paused"}"#),
            ("POST", "/api/training/local/other/logs", #"{"logs":["x"]}"#),
            (
                "POST", "/api/training/local/predictions",
                #"{"job_id":"other","predictions":[{"epoch":0,"step":0,"sample_index":0,"prompt":"p","prediction":"q"}]}"#
            ),
            ("POST", "/api/training/local/metrics", #"{"job_id":"missing","metrics":[{"step":1}]}"#),
        ] {
            #expect(user.send(method, path, body, headers: mine).status.code == 401, "\(method) \(path)")
        }
        // The token can't read, either: reads take a key or a session.
        #expect(env.get("/api/training/local/mine/status", headers: mine).status.code == 401)
        #expect(try user.get("/api/training/local/other/metrics")["metrics"] == .array([]), "nothing reached the other job")

        // Another user's key: their job is 404 by name and by id.
        let stranger = try FineTuneLabUser(env)
        #expect(env.get("/api/training/local/mine/status", headers: stranger.key).status.code == 404)
        #expect(env.get("/api/training/local/\(otherID)/status", headers: stranger.key).status.code == 404)
        #expect(
            stranger.send("POST", "/api/training/local/metrics", #"{"job_id":"mine","metrics":[{"step":1}]}"#, headers: stranger.key).status.code
                == 404)

        // A user_id in the body is no credential, and can't name another user next to one.
        let anonymous = user.send(
            "POST", "/api/training/local/metrics", #"{"job_id":"mine","user_id":"\#(user.userID)","metrics":[{"step":1}]}"#, headers: [:])
        #expect(anonymous.status.code == 401)
        #expect(try anonymous.object() == errorBody("Missing authorization header"))
        let anonymousJob = user.send("POST", "/api/training/local/jobs", #"{"job_id":"x","user_id":"\#(user.userID)"}"#, headers: [:])
        #expect(anonymousJob.status.code == 401)
        let foreign = user.send(
            "POST", "/api/training/local/metrics", #"{"job_id":"mine","user_id":"\#(stranger.userID)","metrics":[{"step":1}]}"#, headers: mine)
        #expect(foreign.status.code == 401)
        #expect(user.register(#"{"job_id":"x","user_id":"\#(stranger.userID)"}"#).status.code == 401)
        let strangerBody = #"{"user_id":"\#(stranger.userID)","status":"paused","logs":["x"]}"#
        #expect(user.send("POST", "/api/training/local/mine/logs", strangerBody, headers: mine).status.code == 401)
        #expect(user.send("PATCH", "/api/training/local/mine/status", strangerBody, headers: mine).status.code == 401)
        #expect(user.register(#"{"job_id":"x","user_id":"\#(user.userID)"}"#).status.code == 200, "the caller's own user_id is harmless")
    }

    @Test func theJobListCarriesTheSDKsFields() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        _ = try user.job("a")
        _ = try user.job("b")
        #expect(env.postJSON("/api/training/jobs", #"{"model_name":"m"}"#, headers: user.key).status.code == 201)
        let list = try user.get("/api/training/jobs", query: "limit=2&offset=0")
        #expect(list["success"] == .bool(true) && list["count"] == .int(2) && list["total"] == .int(3))
        #expect(list["jobs"] == list["data"] && list["limit"] == .int(2) && list["offset"] == .int(0))
        let all = try #require(try user.get("/api/training/jobs")["jobs"]?.arrayValue?.compactMap { $0.dictionary })
        #expect(Set(all.map { $0["external_id"]?.stringValue ?? "null" }) == ["null", "a", "b"])
    }
}
