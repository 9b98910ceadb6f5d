final class SQLiteAnalyticsStore: AnalyticsStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let dayMilliseconds: Int64 = 86_400_000
    /// Jobs of the user created in the range: three bound values (user, from, to).
    private static let inRange = "user_id = ? AND created_at >= ? AND created_at < ?"
    private static let timed = "status = 'completed' AND started_at IS NOT NULL AND completed_at IS NOT NULL"

    func dashboard(userID: String, from: Timestamp, days: Int, failureLimit: Int) throws -> DashboardFigures {
        let start = from.millisecondsSinceEpoch
        let range: [SQLiteValue] = [.text(userID), .integer(start), .integer(start + Int64(days) * Self.dayMilliseconds)]
        return try database.read { connection in
            // One snapshot for every query, so the figures agree with each other.
            try connection.execute("BEGIN")
            defer { try? connection.execute("COMMIT") }
            var figures = DashboardFigures()
            figures.createdPerDay = Array(repeating: 0, count: days)
            var durationSum = 0.0
            // One pass over the covering index: per (status, day) counts and sums.
            try connection.query(
                """
                SELECT status, (created_at - ?) / \(Self.dayMilliseconds), count(*), coalesce(sum(current_step), 0),
                    coalesce(sum(metrics_points), 0), count(CASE WHEN \(Self.timed) THEN 1 END),
                    coalesce(sum(CASE WHEN \(Self.timed) THEN completed_at - started_at END), 0)
                FROM training_jobs WHERE \(Self.inRange) GROUP BY 1, 2
                """,
                [.integer(start)] + range
            ) { row in
                let count = Int(row.int(2))
                if let status = JobStatus(rawValue: row.string(0)) { figures.statusCounts.counts[status, default: 0] += count }
                let day = Int(row.int(1))
                if figures.createdPerDay.indices.contains(day) { figures.createdPerDay[day] += count }
                figures.totalSteps += row.int(3)
                figures.metricsPoints += row.int(4)
                figures.timedCompletions += Int(row.int(5))
                durationSum += Double(row.int(6)) / 1000
            }
            if figures.timedCompletions > 0 {
                let count = figures.timedCompletions
                figures.averageDurationSeconds = durationSum / Double(count)
                // Nearest rank: the ⌈0.95·n⌉-th smallest, i.e. offset ⌈0.95·n⌉ − 1 (integer arithmetic, no rounding error).
                let rank = (95 * count + 99) / 100
                figures.p95DurationSeconds = try connection.first(
                    """
                    SELECT completed_at - started_at AS duration FROM training_jobs WHERE \(Self.inRange) AND \(Self.timed)
                    ORDER BY duration LIMIT 1 OFFSET ?
                    """,
                    range + [.integer(Int64(rank - 1))]
                ) { Double($0.int(0)) / 1000 }
            }

            try connection.query(
                """
                SELECT id, model_name, error_message, completed_at FROM training_jobs INDEXED BY training_jobs_user_failures
                WHERE \(Self.inRange) AND status = 'failed' ORDER BY completed_at DESC, id DESC LIMIT ?
                """,
                range + [.integer(Int64(failureLimit))]
            ) { row in
                figures.recentFailures.append(
                    DashboardFigures.Failure(
                        id: row.string(0), modelName: row.string(1), errorMessage: row.optionalString(2), completedAt: row.optionalTimestamp(3)
                    ))
            }

            try connection.query(
                "SELECT format, count(*), coalesce(sum(total_examples), 0) FROM datasets WHERE \(Self.inRange) GROUP BY format",
                range
            ) { row in
                figures.datasetsByFormat[row.string(0)] = Int(row.int(1))
                figures.datasets += Int(row.int(1))
                figures.datasetExamples += row.int(2)
            }
            return figures
        }
    }
}
