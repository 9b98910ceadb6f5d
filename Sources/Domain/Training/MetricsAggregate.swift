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

        public init(value: Double, jobID: String, step: Int64) {
            self.value = value
            self.jobID = jobID
            self.step = step
        }
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
