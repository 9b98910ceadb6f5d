/// Which of a user's jobs a list shows.
public struct JobFilter: Sendable, Equatable {
    public var status: JobStatus?
    public var modelName: String?

    public init(status: JobStatus? = nil, modelName: String? = nil) {
        self.status = status
        self.modelName = modelName
    }
}

/// Training jobs.
public protocol TrainingJobStore: Sendable {
    /// Counts the user's jobs per status with one aggregate query.
    func statusCounts(userID: String) throws -> JobStatusCounts
    /// Stores new jobs in one transaction; throws `StoreError.missingReference`
    /// when a job's dataset is not one of its user's datasets, or its
    /// `resumedFromJobID` names no job.
    func insert(_ jobs: [TrainingJob]) throws
    /// The job `id` if it belongs to `userID`.
    func find(id: String, userID: String) throws -> TrainingJob?
    /// The user's job whose `externalID` is `externalID` (unique per user).
    func find(externalID: String, userID: String) throws -> TrainingJob?
    /// The job whose token hashes to `tokenHash` (unique index).
    func find(tokenHash: String) throws -> TrainingJob?
    /// The user's jobs, newest first (ties broken by id, so pages are stable), and how many match in all,
    /// both read from one snapshot.
    func list(userID: String, filter: JobFilter, limit: Int, offset: Int) throws -> (jobs: [TrainingJob], total: Int)
    /// Reads the user's job `id`, lets `change` modify it, and writes it back,
    /// all in one write transaction: concurrent changes to one job (from any
    /// worker process) are applied one after the other, each seeing the last.
    /// Returns nil when there is no such job; whatever `change` throws aborts
    /// the transaction and is rethrown. The id, user, creation time, token
    /// hash, resumed-from job, external id and kept token are fixed: what `change` does to them is
    /// undone, and the job returned is the job stored.
    func update(id: String, userID: String, _ change: (inout TrainingJob) throws -> Void) throws -> TrainingJob?
    /// In one write transaction: stores `points` for the user's job `id`
    /// (replacing points of the same step), then calls `change` with the job
    /// and its lowest stored eval loss, and writes the job back. Whatever
    /// `change` throws rolls the points back too. Nil when there is no such
    /// job. The fixed fields stay as `update` keeps them.
    func appendMetrics(
        id: String, userID: String, points: [MetricPoint], _ change: (inout TrainingJob, _ bestEvalLoss: Double?) throws -> Void
    ) throws -> TrainingJob?
    /// Aggregates over the user's jobs matching `filter`, read from one
    /// snapshot: one result for the whole set (also when no job matches), or
    /// one per model name (sorted) when `byModel`.
    func aggregate(userID: String, filter: AggregateFilter, byModel: Bool) throws -> [MetricsAggregate]
    /// The job's points ordered by step, those after `sinceStep` when given, and how many match in all,
    /// both read from one snapshot.
    func metrics(jobID: String, sinceStep: Int64?, limit: Int, offset: Int) throws -> (points: [MetricPoint], total: Int)
}
