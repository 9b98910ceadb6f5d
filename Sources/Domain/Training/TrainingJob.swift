/// A training job with every field of the API contract.
public struct TrainingJob: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var modelName: String
    public var datasetID: String?
    public var status: JobStatus
    /// Hyperparameters as the client gave them: a JSON object, stored as text.
    public var configJSON: String
    public var progress: Double
    public var currentStep: Int64
    public var totalSteps: Int64?
    public var currentEpoch: Int64
    public var totalEpochs: Int64?
    public var trainLoss: Double?
    public var evalLoss: Double?
    public var bestEvalLoss: Double?
    public var errorMessage: String?
    public var resumedFromJobID: String?
    /// SHA-256 of the job's token (hex); nil when the job has none.
    public var jobTokenHash: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var startedAt: Timestamp?
    public var completedAt: Timestamp?
    /// The caller's own name for the job (FineTune Lab's `job_id`), unique per user; nil for jobs made
    /// through `POST /api/training/jobs`. Set at creation and never changed.
    public var externalID: String?
    /// The trainer's dataset path, stored and returned as given.
    public var datasetPath: String?
    /// The token itself, kept only for jobs made through `POST /api/training/local/jobs`, whose upsert
    /// answers it again on every call; nil (only the hash kept) for every other job. Never changed.
    public var jobToken: String?
    /// The training agent that holds the job (claimed it and has not been lost), or held it last when the job
    /// ended; nil while the job is queued.
    public var agentID: String?
    /// When the holder claimed the job.
    public var claimedAt: Timestamp?
    /// How many times agents have claimed the job.
    public var attempts: Int64
    /// When the holder's lease lapses unless it shows life; nil when no agent holds the job or it has ended.
    public var leaseExpiresAt: Timestamp?

    public init(
        id: String, userID: String, modelName: String, datasetID: String? = nil, status: JobStatus = .pending,
        configJSON: String = "{}", progress: Double = 0, currentStep: Int64 = 0, totalSteps: Int64? = nil,
        currentEpoch: Int64 = 0, totalEpochs: Int64? = nil, trainLoss: Double? = nil, evalLoss: Double? = nil,
        bestEvalLoss: Double? = nil, errorMessage: String? = nil, resumedFromJobID: String? = nil,
        jobTokenHash: String? = nil, createdAt: Timestamp, updatedAt: Timestamp? = nil, startedAt: Timestamp? = nil,
        completedAt: Timestamp? = nil, externalID: String? = nil, datasetPath: String? = nil, jobToken: String? = nil,
        agentID: String? = nil, claimedAt: Timestamp? = nil, attempts: Int64 = 0, leaseExpiresAt: Timestamp? = nil
    ) {
        self.id = id
        self.userID = userID
        self.modelName = modelName
        self.datasetID = datasetID
        self.status = status
        self.configJSON = configJSON
        self.progress = progress
        self.currentStep = currentStep
        self.totalSteps = totalSteps
        self.currentEpoch = currentEpoch
        self.totalEpochs = totalEpochs
        self.trainLoss = trainLoss
        self.evalLoss = evalLoss
        self.bestEvalLoss = bestEvalLoss
        self.errorMessage = errorMessage
        self.resumedFromJobID = resumedFromJobID
        self.jobTokenHash = jobTokenHash
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.externalID = externalID
        self.datasetPath = datasetPath
        self.jobToken = jobToken
        self.agentID = agentID
        self.claimedAt = claimedAt
        self.attempts = attempts
        self.leaseExpiresAt = leaseExpiresAt
    }

    /// Whether the job waits in the agents' queue: pending and held by no agent.
    public var isQueued: Bool { status == .pending && agentID == nil }

    /// Whether an agent holds the job: it claimed it, has not been lost, and the job has not ended (an ended job
    /// keeps its last agent in `agentID`, and no lease).
    public var isHeld: Bool { agentID != nil && leaseExpiresAt != nil }
}

extension TrainingJob {
    /// The job as `change` leaves it, with the fields no change may alter as they are here: the id, the
    /// user, the resumed-from job, the token's hash, the creation time, the external id, the kept token and
    /// the agent's hold (its agent, claim time, attempts and lease; a job that ends drops its lease).
    package func changed(by change: (inout TrainingJob) throws -> Void) rethrows -> TrainingJob {
        var job = self
        try change(&job)
        job.id = id
        job.userID = userID
        job.resumedFromJobID = resumedFromJobID
        job.jobTokenHash = jobTokenHash
        job.createdAt = createdAt
        job.externalID = externalID
        job.jobToken = jobToken
        job.agentID = agentID
        job.claimedAt = claimedAt
        job.attempts = attempts
        job.leaseExpiresAt = job.status.isTerminal ? nil : leaseExpiresAt
        return job
    }
}
