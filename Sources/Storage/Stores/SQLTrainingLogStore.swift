import Domain

/// Job logs: one row per kept line, numbered without gaps, so a position among the kept lines is a primary-key
/// range (`seq >= first + offset`). An append locks the job's row first, so concurrent appends to one job number
/// their lines one after the other.
final class SQLTrainingLogStore<Database: SQLDatabase>: TrainingLogStore {
    private let database: Database
    private let lockJob: String
    private let insertLines: String

    private static var selectLast: String { "SELECT coalesce(max(seq), 0) FROM training_logs WHERE job_id = $1" }
    private static var deleteOldest: String { "DELETE FROM training_logs WHERE job_id = $1 AND seq <= $2" }
    private static var selectRange: String { "SELECT coalesce(min(seq), 1), count(*) FROM training_logs WHERE job_id = $1" }
    private static var selectLines: String { "SELECT line FROM training_logs WHERE job_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3" }

    init(database: Database) {
        self.database = database
        let sql = database.dialect
        lockJob = "SELECT job_token_hash FROM training_jobs WHERE id = $1" + sql.forUpdate
        let lines = sql.rows(fixed: [BatchColumn("job_id", .uuid)], [BatchColumn("seq", .integer), BatchColumn("line", .text)])
        insertLines = "INSERT INTO training_logs (job_id, seq, line) \(lines)"
    }

    func append(jobID: String, lines: [String], keep: Int, heldWith tokenHash: String?) throws -> Int {
        guard database.dialect.canName(jobID) else { throw StoreError.missingReference("job_id") }
        return try database.write { connection in
            guard let stored = try connection.first(lockJob, [.text(jobID)], { $0.optionalString(0) }) else {
                throw StoreError.missingReference("job_id")
            }
            if let tokenHash, stored != tokenHash { throw JobReassignedError() }
            return try append(jobID: jobID, lines: lines, keep: keep, on: connection)
        }
    }

    /// `append` in the caller's write transaction, which has locked the job's row.
    func append(jobID: String, lines: [String], keep: Int, on connection: Database.Connection) throws -> Int {
        let last = try connection.first(Self.selectLast, [.text(jobID)]) { $0.int(0) } ?? 0
        let rows = lines.enumerated().map { [SQLValue.integer(last + Int64($0.offset) + 1), .text($0.element)] }
        if !rows.isEmpty { try connection.run(insertLines, fixed: [.text(jobID)], rows: rows) }
        let newest = last + Int64(lines.count)
        if newest > Int64(keep) { try connection.run(Self.deleteOldest, [.text(jobID), .integer(newest - Int64(keep))]) }
        return Int(min(newest, Int64(keep)))
    }

    func lines(jobID: String, offset: Int, limit: Int) throws -> LogPage {
        guard database.dialect.canName(jobID) else { return LogPage(lines: [], total: 0, offset: 0) }
        return try database.snapshot { connection in
            let (first, total) = try connection.first(Self.selectRange, [.text(jobID)]) { ($0.int(0), Int($0.int(1))) } ?? (1, 0)
            let start = LogPage.start(offset: offset, total: total)
            var lines: [String] = []
            try connection.query(Self.selectLines, [.text(jobID), .integer(first + Int64(start)), database.dialect.limit(limit)]) {
                lines.append($0.string(0))
            }
            return LogPage(lines: lines, total: total, offset: start)
        }
    }
}
