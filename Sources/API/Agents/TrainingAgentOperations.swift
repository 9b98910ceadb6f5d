import JSON

/// The OpenAPI operations of `TrainingAgentController`'s routes.
extension OpenAPIOperation {
    /// The headers an agent sends with a poll or a claim.
    static let agentHeaders: [QueryParameter] = [
        (
            "X-Agent-ID", .object(["type": .string("string"), "pattern": .string("^agent_[A-Za-z0-9_-]{4,94}$")]),
            "The agent's id, scoped to the caller; it grants nothing."
        )
    ]

    static let pollAgentJobs = OpenAPIOperation(
        tag: "agents",
        summary: "An agent's poll (header X-Agent-ID): records the agent, renews its leases, and shows the caller's oldest queued job.",
        headers: agentHeaders,
        responses: [
            (200, "The oldest queued job or null, the poll interval, and the agent's held jobs cancelled since.", Schema.ref("AgentPoll")),
            (400, "X-Agent-ID missing or malformed.", nil),
        ])

    static let claimAgentJob = OpenAPIOperation(
        tag: "agents",
        summary: "Claim a queued job for the agent (header X-Agent-ID): it becomes running and gets a new token, its only one.",
        headers: agentHeaders,
        responses: [
            (200, "Claimed: the job's token and the job.", Schema.ref("AgentClaim")), (400, "X-Agent-ID missing or malformed.", nil),
            (404, "No such job of the caller (code JOB_NOT_FOUND).", nil),
            (409, "Held by an agent (code ALREADY_CLAIMED) or not pending (code INVALID_STATUS).", nil),
        ])

    static let listTrainingAgents = OpenAPIOperation(
        tag: "agents", summary: "The caller's agents, with the jobs each holds.",
        responses: [(200, "The agents and the online threshold.", Schema.ref("TrainingAgentList"))])

    static let showTrainingAgent = OpenAPIOperation(
        tag: "agents", summary: "One agent and the jobs it held, newest first (at most 50).",
        responses: [(200, "The agent and its jobs.", Schema.ref("TrainingAgentDetail")), (404, "No such agent of the caller.", nil)])

    static let deleteTrainingAgent = OpenAPIOperation(
        tag: "agents", summary: "Forget an agent; the jobs it holds that have not ended go back to the queue.",
        responses: [(200, "Deleted.", Schema.ref("Action")), (404, "No such agent of the caller.", nil)])
}
