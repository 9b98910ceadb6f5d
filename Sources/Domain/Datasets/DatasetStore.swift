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
