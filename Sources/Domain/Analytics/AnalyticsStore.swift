/// The dashboard's figures over one user's jobs and datasets created in a
/// range of whole UTC days.
public struct DashboardFigures: Sendable, Equatable {
    /// A failed job, as the dashboard lists it.
    public struct Failure: Sendable, Equatable {
        public var id: String
        public var modelName: String
        public var errorMessage: String?
        public var completedAt: Timestamp?

        public init(id: String, modelName: String, errorMessage: String?, completedAt: Timestamp?) {
            self.id = id
            self.modelName = modelName
            self.errorMessage = errorMessage
            self.completedAt = completedAt
        }
    }

    public var statusCounts = JobStatusCounts()
    /// Jobs created on each day of the range, first day first; one entry per day.
    public var createdPerDay: [Int] = []
    /// Completed jobs with both `started_at` and `completed_at`.
    public var timedCompletions = 0
    public var averageDurationSeconds: Double?
    /// Nearest rank: the ⌈0.95·n⌉-th smallest duration.
    public var p95DurationSeconds: Double?
    public var totalSteps: Int64 = 0
    public var metricsPoints: Int64 = 0
    public var datasets = 0
    public var datasetExamples: Int64 = 0
    /// Datasets per format name; formats without datasets are absent.
    public var datasetsByFormat: [String: Int] = [:]
    /// Failed jobs, newest `completed_at` first (those without one last; ties broken by id).
    public var recentFailures: [Failure] = []

    public init() {}
}

/// Aggregates for the analytics dashboard, computed by the database.
public protocol AnalyticsStore: Sendable {
    /// The figures for `userID` over jobs and datasets with `created_at` in
    /// [`from`, `from` + `days` × 24 h); at most `failureLimit` recent failures.
    /// All figures are read from one snapshot, so they agree with each other.
    func dashboard(userID: String, from: Timestamp, days: Int, failureLimit: Int) throws -> DashboardFigures
}
