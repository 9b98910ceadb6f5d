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
