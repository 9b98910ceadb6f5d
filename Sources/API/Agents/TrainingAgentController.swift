import Domain
import Essentials
import HTTPCore
import JSON

/// The training agents' routes: an agent on a user's GPU machine polls for the user's queued jobs, claims one (which
/// gives it the job's one token), and reports through the trainer routes; the user lists and removes agents.
struct TrainingAgentController {
    let agents: any TrainingAgentStore
    let datasetURLs: DatasetURLSigner
    let settings: AgentSettings

    /// The most jobs an agent's detail lists.
    private static let heldJobsShown = 50
    private static let maximumHeaderCharacters = 200

    func register(on router: inout Router) {
        router.get("/api/training/agent/poll", auth: .scope(.training), operation: .pollAgentJobs, use: poll)
        router.post("/api/training/agent/claim/{jobId:string}", auth: .scope(.training), operation: .claimAgentJob, use: claim)
        router.get("/api/training/agents", auth: .scope(.training), operation: .listTrainingAgents, use: list)
        router.get("/api/training/agents/{agent_id:string}", auth: .scope(.training), operation: .showTrainingAgent, use: show)
        router.delete("/api/training/agents/{agent_id:string}", auth: .scope(.training), operation: .deleteTrainingAgent, use: delete)
    }

    func poll(_ context: RequestContext) throws -> Response {
        let agent = try Self.sighting(context.request.headers)
        let now = Timestamp.now()
        let polled = try agents.poll(
            userID: context.user.userID, agent: agent, now: now, leaseUntil: settings.lease.lease(from: now),
            renewingBefore: settings.lease.renewalThreshold(at: now), cancelledSince: now.adding(seconds: -settings.lease.leaseSeconds))
        var body = JSONObject([
            ("job", try polled.job.map { try offered($0, request: context.request, now: now) } ?? .null),
            ("poll_interval_seconds", .int(Int64(settings.pollIntervalSeconds))),
            ("cancelled", .array(polled.cancelled.map { .string($0) })),
        ])
        if polled.job == nil { body["message"] = .string("No pending jobs available") }
        return .json(.object(body))
    }

    func claim(_ context: RequestContext) throws -> Response {
        let agent = try Self.sighting(context.request.headers)
        let token = JobToken.generate()
        let now = Timestamp.now()
        let outcome = try agents.claim(
            jobID: context.parameter("jobId").lowercased(), userID: context.user.userID, agentID: agent.id, tokenHash: JobToken.hash(token),
            now: now, leaseUntil: settings.lease.lease(from: now))
        switch outcome {
        case .claimed(let job):
            context.logger.info(
                "training job claimed", metadata: ["job.id": "\(job.id)", "agent.id": "\(agent.id)", "job.attempts": "\(job.attempts)"])
            return .json(
                .object(
                    JSONObject([
                        ("success", .bool(true)), ("job_token", .string(token)), ("job", try offered(job, request: context.request, now: now)),
                    ])))
        case .notFound:
            throw APIError(.notFound, "Job not found", code: "JOB_NOT_FOUND")
        case .alreadyClaimed:
            throw APIError(.conflict, "Job already claimed by another agent", code: "ALREADY_CLAIMED")
        case .invalidStatus(let status):
            throw APIError(
                .conflict, "Job is not pending (status: \(status.rawValue))", details: "current status: \(status.rawValue)", code: "INVALID_STATUS")
        }
    }

    func list(_ context: RequestContext) throws -> Response {
        let now = Timestamp.now()
        let found = try agents.agents(userID: context.user.userID)
        return .json(
            .object(
                JSONObject([
                    ("agents", .array(found.map { resource(of: $0, now: now) })),
                    ("online_threshold_seconds", .int(Int64(settings.onlineThresholdSeconds))),
                ])))
    }

    func show(_ context: RequestContext) throws -> Response {
        let id = context.parameter("agent_id")
        guard TrainingAgent.isValidID(id), let agent = try agents.agent(id: id, userID: context.user.userID) else { throw APIError.notFound }
        let jobs = try agents.jobs(heldBy: id, userID: context.user.userID, limit: Self.heldJobsShown)
        return .json(.object(JSONObject([("agent", resource(of: agent, now: .now())), ("jobs", .array(jobs.map { $0.json() }))])))
    }

    func delete(_ context: RequestContext) throws -> Response {
        let id = context.parameter("agent_id")
        let now = Timestamp.now()
        guard TrainingAgent.isValidID(id),
            try agents.delete(agentID: id, userID: context.user.userID, now: now, releasedLine: LostAgent.releasedLine(agentID: id, at: now))
        else { throw APIError.notFound }
        return .action("Agent deleted")
    }

    /// A job as the agent routes give it, with a dataset URL that works without a header when it has a stored dataset.
    private func offered(_ job: TrainingJob, request: Request, now: Timestamp) throws -> JSONValue {
        var datasetURL: String?
        var expiresAt: Timestamp?
        if let datasetID = job.datasetID {
            let expires = Int64(now.secondsSinceEpoch + settings.datasetURLSeconds)
            let token = try datasetURLs.token(datasetID: datasetID, userID: job.userID, expires: expires)
            datasetURL = "\(origin(of: request))/api/datasets/download?token=\(token)"
            expiresAt = Timestamp(millisecondsSinceEpoch: expires * 1000)
        }
        return .object(
            JSONObject([
                ("id", .string(job.id)), ("model_name", .string(job.modelName)), ("dataset_path", .string(job.datasetPath ?? datasetURL)),
                ("dataset_url", .string(datasetURL)), ("dataset_url_expires_at", .string(expiresAt?.iso8601)), ("config", job.config),
                ("total_epochs", .int(job.totalEpochs)), ("total_steps", .int(job.totalSteps)), ("created_at", .string(job.createdAt.iso8601)),
            ]))
    }

    /// `FTAPI_PUBLIC_URL`, else the scheme, host and port the request came with. Debian's `fastcgi_params` passes
    /// `Host` without its port (`$host`), so a port not the scheme's own is taken from `SERVER_PORT`.
    private func origin(of request: Request) -> String {
        if let publicURL = settings.publicURL { return publicURL }
        let scheme = request.scheme == "https" ? "https" : "http"
        var host = request.headers["host"].flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        let hasPort = host.hasPrefix("[") ? host.contains("]:") : host.contains(":")
        if !hasPort, !request.serverPort.isEmpty, request.serverPort != (scheme == "https" ? "443" : "80") {
            host += ":" + request.serverPort
        }
        return "\(scheme)://\(host)"
    }

    /// An agent as the agents routes give it; online when it polled within the threshold.
    private func resource(of agent: TrainingAgent, now: Timestamp) -> JSONValue {
        let online = now.secondsSinceEpoch - agent.lastPollAt.secondsSinceEpoch <= Double(settings.onlineThresholdSeconds)
        return .object(
            JSONObject([
                ("agent_id", .string(agent.id)), ("hostname", .string(agent.hostname)), ("platform", .string(agent.platform)),
                ("version", .string(agent.version)), ("registered_at", .string(agent.registeredAt.iso8601)),
                ("last_poll_at", .string(agent.lastPollAt.iso8601)), ("status", .string(online ? "online" : "offline")), ("is_online", .bool(online)),
                ("job_ids", .array(agent.heldJobIDs.map { .string($0) })),
            ]))
    }

    /// The agent a request's `X-Agent-*` headers describe; a 400 when its id is missing or malformed.
    private static func sighting(_ headers: HeaderFields) throws -> AgentSighting {
        guard let id = headers["x-agent-id"], !id.isEmpty else { throw APIError(.badRequest, "Missing X-Agent-ID header") }
        guard TrainingAgent.isValidID(id) else { throw APIError(.badRequest, "Invalid X-Agent-ID format. Expected: agent_xxxxx") }
        func optional(_ name: String, _ header: String) throws -> String? {
            guard let value = headers[header], !value.isEmpty else { return nil }
            guard value.count <= maximumHeaderCharacters else {
                throw APIError.badRequest("\(name) must be at most \(maximumHeaderCharacters) characters", message: "Invalid \(name) header")
            }
            return value
        }
        return AgentSighting(
            id: id, hostname: try optional("X-Agent-Hostname", "x-agent-hostname"), platform: try optional("X-Agent-Platform", "x-agent-platform"),
            version: try optional("X-Agent-Version", "x-agent-version"))
    }
}
