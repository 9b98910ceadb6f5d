import Domain

private let dayMilliseconds: Int64 = 86_400_000
/// Completed jobs that have both times, so a duration.
private let timed = "status = 'completed' AND started_at IS NOT NULL AND completed_at IS NOT NULL"
/// A timed completion's duration in milliseconds.
private let duration = "\(PostgreSQLSchema.milliseconds("completed_at")) - \(PostgreSQLSchema.milliseconds("started_at"))"
/// Rows of the user created in the range: parameters $1 (user), $2 and $3 (from and to, epoch milliseconds).
private let inRange = "user_id = $1 AND created_at >= \(PostgreSQLSchema.timestamp(2)) AND created_at < \(PostgreSQLSchema.timestamp(3))"

/// The dashboard's jobs, grouped by status and day of creation. `day` takes the range's start as $4.
private enum DayColumn: Int32, PostgreSQLColumn {
    case status, day, jobs, steps, metricsPoints, timedCompletions, durationMilliseconds

    var selected: String {
        switch self {
        case .status: "status"
        case .day: "(\(PostgreSQLSchema.milliseconds("created_at")) - $4::int8) / \(dayMilliseconds)"
        case .jobs: "count(*)"
        case .steps: "least(coalesce(sum(current_step), 0), 9223372036854775807)::int8"
        case .metricsPoints: "coalesce(sum(metrics_points), 0)::int8"
        case .timedCompletions: "count(CASE WHEN \(timed) THEN 1 END)"
        case .durationMilliseconds: "coalesce(sum(CASE WHEN \(timed) THEN \(duration) END), 0)::int8"
        }
    }
}

/// A failed job, as the dashboard lists it.
private enum FailureColumn: Int32, PostgreSQLColumn {
    case id, modelName, errorMessage, completedAt

    var selected: String {
        switch self {
        case .id: "id"
        case .modelName: "model_name"
        case .errorMessage: "error_message"
        case .completedAt: PostgreSQLSchema.milliseconds("completed_at")
        }
    }
}

/// The dashboard's datasets, grouped by format.
private enum FormatColumn: Int32, PostgreSQLColumn {
    case format, datasets, examples

    var selected: String {
        switch self {
        case .format: "format"
        case .datasets: "count(*)"
        case .examples: "coalesce(sum(total_examples), 0)::int8"
        }
    }
}

/// The dashboard in PostgreSQL, behaving as `SQLiteAnalyticsStore` does.
final class PostgreSQLAnalyticsStore: AnalyticsStore {
    private let database: PostgreSQLDatabase

    init(database: PostgreSQLDatabase) { self.database = database }

    /// One pass over the covering index: per (status, day) counts and sums.
    private static let selectDays = "SELECT \(DayColumn.selectList) FROM training_jobs WHERE \(inRange) GROUP BY 1, 2"
    /// The duration at an offset ($4) of the timed completions, shortest first.
    private static let selectDuration = """
        SELECT \(duration) AS duration FROM training_jobs WHERE \(inRange) AND \(timed) ORDER BY duration LIMIT 1 OFFSET $4
        """
    /// Newest completion first; failures without one last (where SQLite puts NULLs in a descending order).
    private static let selectFailures = """
        SELECT \(FailureColumn.selectList) FROM training_jobs
        WHERE \(inRange) AND status = 'failed' ORDER BY completed_at DESC NULLS LAST, id DESC LIMIT $4
        """
    private static let selectFormats = "SELECT \(FormatColumn.selectList) FROM datasets WHERE \(inRange) GROUP BY format"

    func dashboard(userID: String, from: Timestamp, days: Int, failureLimit: Int) throws -> DashboardFigures {
        let start = from.millisecondsSinceEpoch
        let range: [PostgreSQLValue] = [.text(userID), .integer(start), .integer(start + Int64(days) * dayMilliseconds)]
        return try database.snapshot { connection in
            var figures = DashboardFigures()
            figures.createdPerDay = Array(repeating: 0, count: days)
            var durationSum = 0.0
            try connection.query(Self.selectDays, range + [.integer(start)]) { row in
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

            // A negative limit is none, as in SQLite.
            try connection.query(Self.selectFailures, range + [failureLimit < 0 ? .null : .integer(Int64(failureLimit))]) { row in
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
