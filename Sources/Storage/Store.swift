/// Errors every store implementation reports the same way, so handlers
/// never see a database's own error types.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// A unique constraint refused the write (e.g. a key name already used by this user).
    case duplicate(String)
    /// The database could not be reached, or the connection broke: nothing was committed.
    case unavailable(String)
    /// Every pooled connection stayed in use past the pool's timeout.
    case busy
    /// The database refused a statement (a bug, or a value past a column's range): nothing was committed.
    case failed(String)
    /// The stored schema is newer than this build knows.
    case schemaTooNew(found: Int, known: Int)
    /// A write named a row that does not exist for this user (e.g. a job's `dataset_id`).
    case missingReference(String)
    /// The request's deadline passed while a statement ran; the statement was interrupted and nothing was committed.
    case timedOut

    public var description: String {
        switch self {
        case .duplicate(let what): "duplicate: \(what)"
        case .unavailable(let why): "database unavailable: \(why)"
        case .busy: "database busy: no pooled connection became free in time"
        case .failed(let why): "database statement failed: \(why)"
        case .schemaTooNew(let found, let known): "database schema version \(found) is newer than this build (\(known))"
        case .missingReference(let what): "missing reference: \(what)"
        case .timedOut: "database statement interrupted: the request's deadline passed"
        }
    }
}

/// API keys: creation, lookup by hash, listing, revocation and usage counters.
public protocol APIKeyStore: Sendable {
    /// Stores a new key; throws `StoreError.duplicate` when the user already has an active key of that name
    /// (a revoked key holds no name), or a key has the same hash.
    func insert(_ key: APIKeyRecord) throws
    /// The key whose hash is `keyHash` (revoked or not), found through the unique index.
    func find(keyHash: String) throws -> APIKeyRecord?
    /// What authentication needs of the key whose hash is `keyHash` (revoked or not): `find(keyHash:)`'s
    /// lookup without the columns a request never reads.
    func credential(keyHash: String) throws -> APIKeyCredential?
    /// The user's active keys, newest first (ties broken by id), and how many there are in all,
    /// both read from one snapshot (a write in between never makes them disagree).
    func list(userID: String, limit: Int, offset: Int) throws -> (keys: [APIKeyRecord], total: Int)
    /// Revokes the user's active key `id`; false when there is no such key.
    func revoke(id: String, userID: String, at time: Timestamp) throws -> Bool
    /// Adds coalesced usage to the keys' counters in one transaction. A key's
    /// `lastUsedAt` only moves forward; usage of unknown keys is dropped.
    func recordUsage(_ usage: [APIKeyUsage]) throws
}

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

/// What deleting a dataset did.
public enum DatasetDeletion: Sendable, Equatable {
    /// The record is gone; the caller removes its file.
    case deleted(DatasetRecord)
    case notFound
    /// Jobs that are not terminal use it; nothing was changed.
    case inUse(jobs: Int)
}

/// Stored datasets' records (their files live under the data directory).
public protocol DatasetStore: Sendable {
    /// Stores a new record; throws `StoreError.duplicate` when the user already has a dataset of that name,
    /// or a record has the same file path.
    func insert(_ dataset: DatasetRecord) throws
    /// The dataset `id` if it belongs to `userID`.
    func find(id: String, userID: String) throws -> DatasetRecord?
    /// Whether the user has a dataset named `name`.
    func exists(name: String, userID: String) throws -> Bool
    /// The user's datasets, newest first (ties broken by id), and how many there are in all, both read from one snapshot.
    func list(userID: String, limit: Int, offset: Int) throws -> (datasets: [DatasetRecord], total: Int)
    /// Deletes the user's dataset `id` in one write transaction, unless a job
    /// that is not terminal references it.
    func delete(id: String, userID: String) throws -> DatasetDeletion
    /// The `file_path` of every record (for sweeping files that have none).
    func allFilePaths() throws -> Set<String>
}

/// The product's storage: one object per database, safe to use from every thread.
public protocol Store: Sendable {
    var apiKeys: any APIKeyStore { get }
    var trainingJobs: any TrainingJobStore { get }
    var datasets: any DatasetStore { get }
    var analytics: any AnalyticsStore { get }
    var notificationPreferences: any NotificationPreferencesStore { get }
    var trainingLogs: any TrainingLogStore { get }
    var trainingPredictions: any TrainingPredictionStore { get }
    /// Brings the schema to the newest version; safe to run from several processes at once.
    func migrate() throws
    /// The schema version now in the database.
    func schemaVersion() throws -> Int
    /// Cheap round trip, for health checks.
    func ping() throws
    /// Runs one request's work: a store that pools connections hands the
    /// request one connection for all of `body`, taken at its first call.
    func scope<T>(_ body: () throws -> T) rethrows -> T
}

extension Store {
    /// Stores without a pool (SQLite: one connection per thread) need no scope.
    public func scope<T>(_ body: () throws -> T) rethrows -> T { try body() }
}
