import Domain
import Essentials

/// Job logs in PostgreSQL, behaving as `SQLiteTrainingLogStore` does: a batch goes in as one
/// `INSERT … SELECT FROM unnest(…) WITH ORDINALITY` after the job row is locked, so concurrent
/// appends to one job number their lines one after the other.
final class PostgreSQLTrainingLogStore: TrainingLogStore {
    private let database: PostgreSQLDatabase

    init(database: PostgreSQLDatabase) { self.database = database }

    private static let lockJob = "SELECT 1 FROM training_jobs WHERE id = $1 FOR UPDATE"
    private static let selectLast = "SELECT coalesce(max(seq), 0) FROM training_logs WHERE job_id = $1"
    private static let insertLines = """
        INSERT INTO training_logs (job_id, seq, line)
        SELECT $1::uuid, $2::int8 + t.n, t.line FROM unnest($3::text[]) WITH ORDINALITY AS t(line, n)
        """
    private static let deleteOldest = "DELETE FROM training_logs WHERE job_id = $1 AND seq <= $2"
    private static let selectRange = "SELECT coalesce(min(seq), 1), count(*) FROM training_logs WHERE job_id = $1"
    private static let selectLines = "SELECT line FROM training_logs WHERE job_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3"

    /// `lines` as a text array literal: every element quoted, with its quotes and backslashes escaped.
    static func arrayLiteral(_ lines: [String]) -> String {
        var literal = "{"
        for (index, line) in lines.enumerated() {
            if index > 0 { literal += "," }
            literal += "\""
            for character in line.unicodeScalars {
                if character == "\"" || character == "\\" { literal += "\\" }
                literal.unicodeScalars.append(character)
            }
            literal += "\""
        }
        return literal + "}"
    }

    func append(jobID: String, lines: [String], keep: Int) throws -> Int {
        guard isCanonicalUUID(jobID) else { throw StoreError.missingReference("job_id") }
        return try database.write { connection in
            guard try connection.first(Self.lockJob, [.text(jobID)], { $0.int(0) }) != nil else {
                throw StoreError.missingReference("job_id")
            }
            let last = try connection.first(Self.selectLast, [.text(jobID)]) { $0.int(0) } ?? 0
            if !lines.isEmpty { try connection.run(Self.insertLines, [.text(jobID), .integer(last), .text(Self.arrayLiteral(lines))]) }
            let newest = last + Int64(lines.count)
            if newest > Int64(keep) { try connection.run(Self.deleteOldest, [.text(jobID), .integer(newest - Int64(keep))]) }
            return Int(min(newest, Int64(keep)))
        }
    }

    func lines(jobID: String, offset: Int, limit: Int) throws -> LogPage {
        guard isCanonicalUUID(jobID) else { return LogPage(lines: [], total: 0, offset: 0) }
        return try database.snapshot { connection in
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
