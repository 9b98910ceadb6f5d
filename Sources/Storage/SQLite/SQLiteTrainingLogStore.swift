import Domain

extension LogLineColumn: SQLiteColumn {
    var sql: String { name }
}

/// Job logs in SQLite: one row per kept line, numbered without gaps, so a position among the
/// kept lines is a primary-key range (`seq >= first + offset`).
final class SQLiteTrainingLogStore: TrainingLogStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let selectLast = "SELECT coalesce(max(seq), 0) FROM training_logs WHERE job_id = ?"
    private static let insertLine = "INSERT INTO training_logs (\(LogLineColumn.list)) VALUES (\(LogLineColumn.placeholders))"
    private static let deleteOldest = "DELETE FROM training_logs WHERE job_id = ? AND seq <= ?"
    private static let selectRange = "SELECT coalesce(min(seq), 1), count(*) FROM training_logs WHERE job_id = ?"
    private static let selectLines = "SELECT line FROM training_logs WHERE job_id = ? AND seq >= ? ORDER BY seq LIMIT ?"

    func append(jobID: String, lines: [String], keep: Int) throws -> Int {
        try database.write { connection in
            let last = try connection.first(Self.selectLast, [.text(jobID)]) { $0.int(0) } ?? 0
            for (index, line) in lines.enumerated() {
                try connection.run(Self.insertLine, [.text(jobID), .integer(last + Int64(index) + 1), .text(line)])
            }
            let newest = last + Int64(lines.count)
            if newest > Int64(keep) { try connection.run(Self.deleteOldest, [.text(jobID), .integer(newest - Int64(keep))]) }
            return Int(min(newest, Int64(keep)))
        }
    }

    func lines(jobID: String, offset: Int, limit: Int) throws -> LogPage {
        try database.snapshot { connection in
            let (first, total) = try connection.first(Self.selectRange, [.text(jobID)]) { ($0.int(0), Int($0.int(1))) } ?? (1, 0)
            let start = LogPage.start(offset: offset, total: total)
            var lines: [String] = []
            try connection.query(Self.selectLines, [.text(jobID), .integer(first + Int64(start)), .integer(Int64(limit))]) {
                lines.append($0.string(0))
            }
            return LogPage(lines: lines, total: total, offset: start)
        }
    }
}
