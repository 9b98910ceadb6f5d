import Domain

private let dayMilliseconds: Int64 = 86_400_000
/// Completed jobs that have both times, so a duration.
private let timed = "status = 'completed' AND started_at IS NOT NULL AND completed_at IS NOT NULL"
/// Rows of the user created in the range: three bound values (user, from, to).
private let inRange = "user_id = ? AND created_at >= ? AND created_at < ?"

/// The dashboard's jobs, grouped by status and day of creation. `day` binds the range's start.
private enum DayColumn: Int32, SQLiteColumn {
    case status, day, jobs, steps, metricsPoints, timedCompletions, durationMilliseconds

    var sql: String {
        switch self {
        case .status: "status"
        case .day: "(created_at - ?) / \(dayMilliseconds)"
        case .jobs: "count(*)"
        case .steps: "CAST(total(current_step) AS INTEGER)"
        case .metricsPoints: "coalesce(sum(metrics_points), 0)"
        case .timedCompletions: "count(CASE WHEN \(timed) THEN 1 END)"
        case .durationMilliseconds: "coalesce(sum(CASE WHEN \(timed) THEN completed_at - started_at END), 0)"
        }
    }
}

/// A failed job, as the dashboard lists it.
private enum FailureColumn: Int32, SQLiteColumn {
    case id, modelName, errorMessage, completedAt

    var sql: String {
        switch self {
        case .id: "id"
        case .modelName: "model_name"
        case .errorMessage: "error_message"
        case .completedAt: "completed_at"
        }
    }
}

/// The dashboard's datasets, grouped by format.
private enum FormatColumn: Int32, SQLiteColumn {
    case format, datasets, examples

    var sql: String {
        switch self {
        case .format: "format"
        case .datasets: "count(*)"
        case .examples: "coalesce(sum(total_examples), 0)"
        }
    }
}

final class SQLiteAnalyticsStore: AnalyticsStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    /// One pass over the covering index: per (status, day) counts and sums.
    private static let selectDays = "SELECT \(DayColumn.list) FROM training_jobs WHERE \(inRange) GROUP BY 1, 2"
    /// The duration at an offset (bound last) of the timed completions, shortest first.
    private static let selectDuration = """
        SELECT completed_at - started_at AS duration FROM training_jobs WHERE \(inRange) AND \(timed) ORDER BY duration LIMIT 1 OFFSET ?
        """
    private static let selectFailures = """
        SELECT \(FailureColumn.list) FROM training_jobs INDEXED BY training_jobs_user_failures
        WHERE \(inRange) AND status = 'failed' ORDER BY completed_at DESC, id DESC LIMIT ?
        """
    private static let selectFormats = "SELECT \(FormatColumn.list) FROM datasets WHERE \(inRange) GROUP BY format"

    func dashboard(userID: String, from: Timestamp, days: Int, failureLimit: Int) throws -> DashboardFigures {
        let start = from.millisecondsSinceEpoch
        let range: [SQLiteValue] = [.text(userID), .integer(start), .integer(start + Int64(days) * dayMilliseconds)]
        return try database.snapshot { connection in
            var figures = DashboardFigures()
            figures.createdPerDay = Array(repeating: 0, count: days)
            var durationSum = 0.0
            try connection.query(Self.selectDays, [.integer(start)] + range) { row in
                let count = Int(row.int(DayColumn.jobs))
                if let status = row.jobStatus(DayColumn.status) { figures.statusCounts[status] += count }
                let day = Int(row.int(DayColumn.day))
                if figures.createdPerDay.indices.contains(day) { figures.createdPerDay[day] += count }
                figures.totalSteps = figures.totalSteps.addingSaturated(row.int(DayColumn.steps))
                figures.metricsPoints += row.int(DayColumn.metricsPoints)
                figures.timedCompletions += Int(row.int(DayColumn.timedCompletions))
                durationSum += Double(row.int(DayColumn.durationMilliseconds)) / 1000
            }
            if figures.timedCompletions > 0 {
                let count = figures.timedCompletions
                figures.averageDurationSeconds = durationSum / Double(count)
                // Nearest rank: the ⌈0.95·n⌉-th smallest, i.e. offset ⌈0.95·n⌉ − 1 (integer arithmetic, no rounding error).
                let rank = (95 * count + 99) / 100
                figures.p95DurationSeconds = try connection.first(Self.selectDuration, range + [.integer(Int64(rank - 1))]) {
                    Double($0.int(0)) / 1000
                }
            }

            try connection.query(Self.selectFailures, range + [.integer(Int64(failureLimit))]) { row in
                figures.recentFailures.append(
                    DashboardFigures.Failure(
                        id: row.string(FailureColumn.id), modelName: row.string(FailureColumn.modelName),
                        errorMessage: row.optionalString(FailureColumn.errorMessage), completedAt: row.optionalTimestamp(FailureColumn.completedAt)
                    ))
            }

            try connection.query(Self.selectFormats, range) { row in
                let datasets = Int(row.int(FormatColumn.datasets))
                figures.datasetsByFormat[row.string(FormatColumn.format)] = datasets
                figures.datasets += datasets
                figures.datasetExamples += row.int(FormatColumn.examples)
            }
            return figures
        }
    }
}
