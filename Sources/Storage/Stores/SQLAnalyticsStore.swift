import Domain

private let dayMilliseconds: Int64 = 86_400_000
/// Completed jobs that have both times, so a duration.
private let timed = "status = 'completed' AND started_at IS NOT NULL AND completed_at IS NOT NULL"

/// A timed completion's duration in milliseconds.
private func duration(_ sql: SQLDialect) -> String {
    "\(sql.milliseconds("completed_at")) - \(sql.milliseconds("started_at"))"
}

/// Rows of the user created in the range: parameters $1 (user), $2 and $3 (from and to, epoch milliseconds).
private func inRange(_ sql: SQLDialect) -> String {
    "user_id = $1 AND created_at >= \(sql.timestamp(2)) AND created_at < \(sql.timestamp(3))"
}

/// The dashboard's jobs, grouped by status and day of creation. `day` takes the range's start as $4.
private enum DayColumn: Int32, QueryColumn {
    case status, day, jobs, steps, metricsPoints, timedCompletions, durationMilliseconds

    func expression(_ sql: SQLDialect) -> String {
        switch self {
        case .status: "status"
        case .day: "(\(sql.milliseconds("created_at")) - $4) / \(dayMilliseconds)"
        case .jobs: "count(*)"
        case .steps: sql.saturatingSum("current_step")
        case .metricsPoints: "CAST(coalesce(sum(metrics_points), 0) AS BIGINT)"
        case .timedCompletions: "count(CASE WHEN \(timed) THEN 1 END)"
        case .durationMilliseconds: "CAST(coalesce(sum(CASE WHEN \(timed) THEN \(duration(sql)) END), 0) AS BIGINT)"
        }
    }
}

/// A failed job, as the dashboard lists it.
private enum FailureColumn: Int32, QueryColumn {
    case id, modelName, errorMessage, completedAt

    func expression(_ sql: SQLDialect) -> String {
        switch self {
        case .id: "id"
        case .modelName: "model_name"
        case .errorMessage: "error_message"
        case .completedAt: sql.milliseconds("completed_at")
        }
    }
}

/// The dashboard's datasets, grouped by format.
private enum FormatColumn: Int32, QueryColumn {
    case format, datasets, examples

    func expression(_ sql: SQLDialect) -> String {
        switch self {
        case .format: "format"
        case .datasets: "count(*)"
        case .examples: "CAST(coalesce(sum(total_examples), 0) AS BIGINT)"
        }
    }
}

/// The dashboard's figures, each read by one statement over the user's rows in the range, all from one snapshot.
final class SQLAnalyticsStore<Database: SQLDatabase>: AnalyticsStore {
    private let database: Database
    /// One pass over the covering index: per (status, day) counts and sums.
    private let selectDays: String
    /// The duration at an offset ($4) of the timed completions, shortest first.
    private let selectDuration: String
    private let selectFailures: String
    private let selectFormats: String

    init(database: Database) {
        self.database = database
        let sql = database.dialect
        selectDays = "SELECT \(sql.selectList(DayColumn.self)) FROM training_jobs WHERE \(inRange(sql)) GROUP BY 1, 2"
        selectDuration = """
            SELECT \(duration(sql)) AS duration FROM training_jobs WHERE \(inRange(sql)) AND \(timed) ORDER BY duration LIMIT 1 OFFSET $4
            """
        selectFailures = """
            SELECT \(sql.selectList(FailureColumn.self)) FROM training_jobs\(sql.indexedBy("training_jobs_user_failures"))
            WHERE \(inRange(sql)) AND status = 'failed' ORDER BY completed_at DESC NULLS LAST, id DESC LIMIT $4
            """
        selectFormats = "SELECT \(sql.selectList(FormatColumn.self)) FROM datasets WHERE \(inRange(sql)) GROUP BY format"
    }

    func dashboard(userID: String, from: Timestamp, days: Int, failureLimit: Int) throws -> DashboardFigures {
        let start = from.millisecondsSinceEpoch
        let range: [SQLValue] = [.text(userID), .integer(start), .integer(start + Int64(days) * dayMilliseconds)]
        return try database.snapshot { connection in
            var figures = DashboardFigures()
            figures.createdPerDay = Array(repeating: 0, count: days)
            var durationSum = 0.0
            try connection.query(selectDays, range + [.integer(start)]) { row in
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
                figures.p95DurationSeconds = try connection.first(selectDuration, range + [.integer(Int64(rank - 1))]) {
                    Double($0.int(0)) / 1000
                }
            }

            try connection.query(selectFailures, range + [database.dialect.limit(failureLimit)]) { row in
                figures.recentFailures.append(
                    DashboardFigures.Failure(
                        id: row.string(FailureColumn.id), modelName: row.string(FailureColumn.modelName),
                        errorMessage: row.optionalString(FailureColumn.errorMessage), completedAt: row.optionalTimestamp(FailureColumn.completedAt)
                    ))
            }

            try connection.query(selectFormats, range) { row in
                let datasets = Int(row.int(FormatColumn.datasets))
                figures.datasetsByFormat[row.string(FormatColumn.format)] = datasets
                figures.datasets += datasets
                figures.datasetExamples += row.int(FormatColumn.examples)
            }
            return figures
        }
    }
}
