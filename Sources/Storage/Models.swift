/// Scopes an API key can grant. `all` grants every other scope.
public enum Scope: String, Sendable, CaseIterable, Codable {
    case all, training, analytics, datasets, models, notifications
}

/// An API key as stored: never the key itself, only its SHA-256.
public struct APIKeyRecord: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var name: String
    /// Lowercase hex SHA-256 of the full key; unique, so lookups use the index.
    public var keyHash: String
    /// The first 12 characters of the key, for people to recognise it.
    public var keyPrefix: String
    public var scopes: [Scope]
    public var createdAt: Timestamp
    public var lastUsedAt: Timestamp?
    public var requestCount: Int64
    public var revokedAt: Timestamp?

    public init(
        id: String, userID: String, name: String, keyHash: String, keyPrefix: String, scopes: [Scope],
        createdAt: Timestamp, lastUsedAt: Timestamp? = nil, requestCount: Int64 = 0, revokedAt: Timestamp? = nil
    ) {
        self.id = id
        self.userID = userID
        self.name = name
        self.keyHash = keyHash
        self.keyPrefix = keyPrefix
        self.scopes = scopes
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.requestCount = requestCount
        self.revokedAt = revokedAt
    }
}

/// Requests made with one key since the last flush.
public struct APIKeyUsage: Sendable, Equatable {
    public var keyID: String
    public var requests: Int64
    public var lastUsedAt: Timestamp

    public init(keyID: String, requests: Int64, lastUsedAt: Timestamp) {
        self.keyID = keyID
        self.requests = requests
        self.lastUsedAt = lastUsedAt
    }
}

/// The status of a training job.
public enum JobStatus: String, Sendable, CaseIterable, Codable {
    case pending, running, paused, completed, failed, cancelled

    /// Completed, failed and cancelled jobs never change status again.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        case .pending, .running, .paused: false
        }
    }

    /// The contract's legal transitions: pending→running, pending→cancelled,
    /// running→paused, paused→running, running→completed, running→failed,
    /// running|paused→cancelled.
    public func canTransition(to next: JobStatus) -> Bool {
        switch (self, next) {
        case (.pending, .running), (.pending, .cancelled), (.running, .paused), (.paused, .running),
            (.running, .completed), (.running, .failed), (.running, .cancelled), (.paused, .cancelled):
            true
        default:
            false
        }
    }
}

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

    public init(
        id: String, userID: String, modelName: String, datasetID: String? = nil, status: JobStatus = .pending,
        configJSON: String = "{}", progress: Double = 0, currentStep: Int64 = 0, totalSteps: Int64? = nil,
        currentEpoch: Int64 = 0, totalEpochs: Int64? = nil, trainLoss: Double? = nil, evalLoss: Double? = nil,
        bestEvalLoss: Double? = nil, errorMessage: String? = nil, resumedFromJobID: String? = nil,
        jobTokenHash: String? = nil, createdAt: Timestamp, updatedAt: Timestamp? = nil, startedAt: Timestamp? = nil,
        completedAt: Timestamp? = nil
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
    }
}

/// How many of a user's jobs are in each status.
public struct JobStatusCounts: Sendable, Equatable {
    public var counts: [JobStatus: Int]

    public init(_ counts: [JobStatus: Int] = [:]) { self.counts = counts }

    public subscript(status: JobStatus) -> Int { counts[status] ?? 0 }

    /// The sum over every status.
    public var total: Int { counts.values.reduce(0, +) }
}

/// One reported training step of a job. Stored once per (job, step): a
/// resent step replaces the earlier point.
public struct MetricPoint: Sendable, Equatable {
    public var step: Int64
    public var epoch: Double?
    public var trainLoss: Double?
    public var evalLoss: Double?
    public var learningRate: Double?
    public var gradNorm: Double?
    public var gpuMemoryAllocatedGB: Double?
    public var gpuUtilizationPercent: Double?
    public var samplesPerSecond: Double?
    public var tokensPerSecond: Double?
    /// When the trainer measured it, if it said.
    public var timestamp: Timestamp?

    public init(
        step: Int64, epoch: Double? = nil, trainLoss: Double? = nil, evalLoss: Double? = nil, learningRate: Double? = nil,
        gradNorm: Double? = nil, gpuMemoryAllocatedGB: Double? = nil, gpuUtilizationPercent: Double? = nil,
        samplesPerSecond: Double? = nil, tokensPerSecond: Double? = nil, timestamp: Timestamp? = nil
    ) {
        self.step = step
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.evalLoss = evalLoss
        self.learningRate = learningRate
        self.gradNorm = gradNorm
        self.gpuMemoryAllocatedGB = gpuMemoryAllocatedGB
        self.gpuUtilizationPercent = gpuUtilizationPercent
        self.samplesPerSecond = samplesPerSecond
        self.tokensPerSecond = tokensPerSecond
        self.timestamp = timestamp
    }
}

/// Which jobs an aggregate covers: created in [from, to) and of one model, when given.
public struct AggregateFilter: Sendable, Equatable {
    public var from: Timestamp?
    public var to: Timestamp?
    public var modelName: String?

    public init(from: Timestamp? = nil, to: Timestamp? = nil, modelName: String? = nil) {
        self.from = from
        self.to = to
        self.modelName = modelName
    }
}

/// Training figures across a set of jobs, computed by the database.
public struct MetricsAggregate: Sendable, Equatable {
    public struct Best: Sendable, Equatable {
        public var value: Double
        public var jobID: String
        public var step: Int64
    }

    /// The group's model, or nil for the whole set.
    public var modelName: String?
    public var jobs: Int
    public var jobsWithMetrics: Int
    /// Sum of the jobs' current steps.
    public var totalSteps: Int64
    /// The lowest eval loss of any point, with where it was reached.
    public var bestEvalLoss: Best?
    /// Mean of the last reported train loss of the jobs that have metrics.
    public var averageFinalTrainLoss: Double?
    public var averageFinalEvalLoss: Double?
    /// Mean samples per second over every point that reports it.
    public var averageSamplesPerSecond: Double?

    public init(
        modelName: String?, jobs: Int, jobsWithMetrics: Int, totalSteps: Int64, bestEvalLoss: Best?, averageFinalTrainLoss: Double?,
        averageFinalEvalLoss: Double?, averageSamplesPerSecond: Double?
    ) {
        self.modelName = modelName
        self.jobs = jobs
        self.jobsWithMetrics = jobsWithMetrics
        self.totalSteps = totalSteps
        self.bestEvalLoss = bestEvalLoss
        self.averageFinalTrainLoss = averageFinalTrainLoss
        self.averageFinalEvalLoss = averageFinalEvalLoss
        self.averageSamplesPerSecond = averageSamplesPerSecond
    }
}

/// A stored dataset's record.
public struct DatasetRecord: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var name: String
    /// One of chatml, sharegpt, alpaca, dpo, text.
    public var format: String
    public var sizeBytes: Int64
    public var totalExamples: Int64
    /// Lowercase hex SHA-256 of the stored bytes.
    public var sha256: String
    /// The file, relative to the data directory.
    public var filePath: String
    public var createdAt: Timestamp

    public init(
        id: String, userID: String, name: String, format: String, sizeBytes: Int64, totalExamples: Int64, sha256: String,
        filePath: String, createdAt: Timestamp
    ) {
        self.id = id
        self.userID = userID
        self.name = name
        self.format = format
        self.sizeBytes = sizeBytes
        self.totalExamples = totalExamples
        self.sha256 = sha256
        self.filePath = filePath
        self.createdAt = createdAt
    }
}
