import Domain

/// The columns of `training_jobs` that a `TrainingJob` holds, in row order.
extension JobColumn: SQLiteColumn {
    var sql: String { name }

    func sqliteValue(of job: TrainingJob) -> SQLiteValue {
        switch self {
        case .id: .text(job.id)
        case .userID: .text(job.userID)
        case .modelName: .text(job.modelName)
        case .datasetID: job.datasetID.sqlite
        case .status: .text(job.status.rawValue)
        case .config: .text(job.configJSON)
        case .progress: .real(job.progress)
        case .currentStep: .integer(job.currentStep)
        case .totalSteps: job.totalSteps.sqlite
        case .currentEpoch: .integer(job.currentEpoch)
        case .totalEpochs: job.totalEpochs.sqlite
        case .trainLoss: job.trainLoss.sqlite
        case .evalLoss: job.evalLoss.sqlite
        case .bestEvalLoss: job.bestEvalLoss.sqlite
        case .errorMessage: job.errorMessage.sqlite
        case .resumedFromJobID: job.resumedFromJobID.sqlite
        case .jobTokenHash: job.jobTokenHash.sqlite
        case .createdAt: .integer(job.createdAt.millisecondsSinceEpoch)
        case .updatedAt: .integer(job.updatedAt.millisecondsSinceEpoch)
        case .startedAt: job.startedAt.sqlite
        case .completedAt: job.completedAt.sqlite
        case .externalID: job.externalID.sqlite
        case .datasetPath: job.datasetPath.sqlite
        case .jobToken: job.jobToken.sqlite
        }
    }
}

extension MetricColumn: SQLiteColumn {
    var sql: String { name }

    func sqliteValue(of point: MetricPoint) -> SQLiteValue {
        if let measure { return point[measure].sqlite }
        return self == .step ? .integer(point.step) : point.timestamp.sqlite
    }
}

/// `job_status_counts`, as `statusCounts` reads it.
enum StatusCountColumn: Int32, SQLiteColumn {
    case status, count

    var sql: String {
        switch self {
        case .status: "status"
        case .count: "count"
        }
    }
}

/// A job's metrics summary, computed over its points.
private enum MetricSummaryColumn: Int32, SQLiteColumn {
    case bestEvalLoss, points, samplesPerSecondSum, samplesPerSecondCount

    var sql: String {
        switch self {
        case .bestEvalLoss: "min(eval_loss)"
        case .points: "count(*)"
        case .samplesPerSecondSum: "coalesce(sum(samples_per_second), 0)"
        case .samplesPerSecondCount: "count(samples_per_second)"
        }
    }
}

/// One group of `aggregate`, over the jobs of the common table `j` (which has a `grouping` column).
private enum AggregateColumn: Int32, SQLiteColumn {
    case grouping, jobs, jobsWithMetrics, totalSteps, averageFinalTrainLoss, averageFinalEvalLoss, averageSamplesPerSecond

    var sql: String {
        switch self {
        case .grouping: "grouping"
        case .jobs: "count(*)"
        case .jobsWithMetrics: "count(CASE WHEN metrics_points > 0 THEN 1 END)"
        case .totalSteps: "CAST(total(current_step) AS INTEGER)"
        case .averageFinalTrainLoss: "avg(CASE WHEN metrics_points > 0 THEN train_loss END)"
        case .averageFinalEvalLoss: "avg(CASE WHEN metrics_points > 0 THEN eval_loss END)"
        case .averageSamplesPerSecond: "sum(samples_per_second_sum) / nullif(sum(samples_per_second_count), 0)"
        }
    }
}

/// The job with the lowest `best_eval_loss` of one group of `aggregate`.
private enum GroupBestColumn: Int32, SQLiteColumn {
    case grouping, jobID, value

    var sql: String {
        switch self {
        case .grouping: "grouping"
        case .jobID: "id"
        case .value: "best_eval_loss"
        }
    }
}

final class SQLiteTrainingJobStore: TrainingJobStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let selectStatusCounts = """
        SELECT \(StatusCountColumn.list) FROM job_status_counts WHERE user_id = ? AND count > 0
        """
    private static let selectOwnedDataset = "SELECT 1 FROM datasets WHERE id = ? AND user_id = ?"
    private static let insertRow = "INSERT INTO training_jobs (\(JobColumn.list)) VALUES (\(JobColumn.placeholders))"
    private static let selectJobs = "SELECT \(JobColumn.list) FROM training_jobs"
    private static let selectByID = "\(selectJobs) WHERE id = ? AND user_id = ?"
    private static let selectByTokenHash = "\(selectJobs) WHERE job_token_hash = ?"
    private static let selectByExternalID = "\(selectJobs) WHERE user_id = ? AND external_id = ?"
    private static let updatable = JobColumn.allCases.filter { !$0.isFixed }
    private static let updateRow = """
        UPDATE training_jobs SET \(updatable.map { "\($0.sql) = ?" }.joined(separator: ", ")) WHERE id = ?
        """
    private static let upsertPoint = """
        INSERT INTO training_metrics (job_id, \(MetricColumn.list)) VALUES (?, \(MetricColumn.placeholders))
        ON CONFLICT (job_id, step) DO UPDATE SET \
        \(MetricColumn.allCases.filter { $0 != .step }.map { "\($0.sql) = excluded.\($0.sql)" }.joined(separator: ", "))
        """
    private static let selectMetricSummary = "SELECT \(MetricSummaryColumn.list) FROM training_metrics WHERE job_id = ?"
    private static let selectLastStep = "SELECT max(step) FROM training_metrics WHERE job_id = ?"
    /// The job row's summary of its metrics, in `summaryValues`' order.
    private static let summaryColumns = ["metrics_points", "samples_per_second_sum", "samples_per_second_count"]
    /// `updateRow` that also sets the summary to figures from a pass over the job's points.
    private static let updateRowAndSummary = """
        UPDATE training_jobs SET \((updatable.map { "\($0.sql) = ?" } + summaryColumns.map { "\($0) = ?" }).joined(separator: ", "))
        WHERE id = ?
        """
    /// `updateRow` that also adds a batch's figures to the summary.
    private static let updateRowAddingToSummary = """
        UPDATE training_jobs SET \((updatable.map { "\($0.sql) = ?" } + summaryColumns.map { "\($0) = \($0) + ?" }).joined(separator: ", "))
        WHERE id = ?
        """

    private static func summaryValues(_ summary: MetricSummary) -> [SQLiteValue] {
        [.integer(summary.points), .real(summary.samplesPerSecondSum), .integer(summary.samplesPerSecondCount)]
    }
    private static let aggregateColumns = AggregateColumn.list
    private static let groupBestColumns = GroupBestColumn.list
    private static let selectPoints = """
        SELECT \(MetricColumn.list) FROM training_metrics WHERE job_id = ? AND step > ? ORDER BY step LIMIT ? OFFSET ?
        """

    /// The user's job `id`, read on `connection` (inside the caller's transaction, if any).
    private static func fetch(id: String, userID: String, on connection: SQLiteConnection) throws -> TrainingJob? {
        try connection.first(selectByID, [.text(id), .text(userID)], TrainingJob.init(row:))
    }

    /// Lets `change` modify the `stored` job and writes the result back, in the
    /// caller's write transaction. Returns the job as stored: the fixed
    /// fields keep their stored values whatever `change` did to them.
    private static func save(
        _ stored: TrainingJob, summary: MetricSummaryChange? = nil, changedBy change: (inout TrainingJob) throws -> Void,
        on connection: SQLiteConnection
    ) throws -> TrainingJob {
        let job = try stored.changed(by: change)
        var values = updatable.map { $0.sqliteValue(of: job) }
        let statement: String
        switch summary {
        case nil: statement = updateRow
        case .set(let figures)?: (statement, values) = (updateRowAndSummary, values + summaryValues(figures))
        case .add(let figures)?: (statement, values) = (updateRowAddingToSummary, values + summaryValues(figures))
        }
        values.append(.text(job.id))
        try connection.run(statement, values)
        return job
    }

    func statusCounts(userID: String) throws -> JobStatusCounts {
        try database.read { connection in
            var counts = JobStatusCounts()
            try connection.query(Self.selectStatusCounts, [.text(userID)]) { row in
                if let status = row.jobStatus(StatusCountColumn.status) {
                    counts[status] = Int(row.int(StatusCountColumn.count))
                }
            }
            return counts
        }
    }

    func insert(_ jobs: [TrainingJob]) throws {
        _ = try database.write { connection in
            for job in jobs {
                if let datasetID = job.datasetID {
                    let owned = try connection.first(Self.selectOwnedDataset, [.text(datasetID), .text(job.userID)]) { $0.int(0) }
                    guard owned != nil else { throw StoreError.missingReference("dataset_id") }
                }
                try connection.run(Self.insertRow, JobColumn.allCases.map { $0.sqliteValue(of: job) })
            }
        }
    }

    func find(id: String, userID: String) throws -> TrainingJob? {
        try database.read { connection in
            try Self.fetch(id: id, userID: userID, on: connection)
        }
    }

    func find(externalID: String, userID: String) throws -> TrainingJob? {
        try database.read { connection in
            try connection.first(Self.selectByExternalID, [.text(userID), .text(externalID)], TrainingJob.init(row:))
        }
    }

    func find(tokenHash: String) throws -> TrainingJob? {
        try database.read { connection in
            try connection.first(Self.selectByTokenHash, [.text(tokenHash)], TrainingJob.init(row:))
        }
    }

    func list(userID: String, filter: JobFilter, limit: Int, offset: Int) throws -> (jobs: [TrainingJob], total: Int) {
        var conditions = "user_id = ?"
        var values: [SQLiteValue] = [.text(userID)]
        if let status = filter.status {
            conditions += " AND status = ?"
            values.append(.text(status.rawValue))
        }
        if let modelName = filter.modelName {
            conditions += " AND model_name = ?"
            values.append(.text(modelName))
        }
        return try database.snapshot { connection in
            var jobs: [TrainingJob] = []
            try connection.query(
                "\(Self.selectJobs) WHERE \(conditions) ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                values + [.integer(Int64(limit)), .integer(Int64(offset))]
            ) { jobs.append(TrainingJob(row: $0)) }
            let total = try connection.first("SELECT count(*) FROM training_jobs WHERE \(conditions)", values) { Int($0.int(0)) } ?? 0
            return (jobs, total)
        }
    }

    func update(id: String, userID: String, _ change: (inout TrainingJob) throws -> Void) throws -> TrainingJob? {
        try database.write { connection in
            guard let stored = try Self.fetch(id: id, userID: userID, on: connection) else { return nil }
            return try Self.save(stored, changedBy: change, on: connection)
        }
    }

    func appendMetrics(
        id: String, userID: String, points: [MetricPoint], _ change: (inout TrainingJob, Double?) throws -> Void
    ) throws -> TrainingJob? {
        try database.write { connection in
            guard let stored = try Self.fetch(id: id, userID: userID, on: connection) else { return nil }
            let lastStep = try connection.first(Self.selectLastStep, [.text(id)]) { $0.optionalInt(0) } ?? nil
            for point in points {
                try connection.run(Self.upsertPoint, [.text(id)] + MetricColumn.allCases.map { $0.sqliteValue(of: point) })
            }
            // The job row carries its metrics' summary, so aggregates read job rows only, never every point.
            // A batch past the job's last step, in step order (what a trainer sends), replaces no point: it is
            // added to the summary. Any other may replace points, whose old values only a pass over all of the
            // job's points takes out.
            if MetricPoint.onlyFollow(lastStep, points) {
                let best = MetricPoint.lowestEvalLoss(points, below: stored.bestEvalLoss)
                return try Self.save(
                    stored, summary: .add(MetricSummary(batch: points)), changedBy: { job in try change(&job, best) }, on: connection)
            }
            var best: Double?
            var figures = MetricSummary(points: 0, samplesPerSecondSum: 0, samplesPerSecondCount: 0)
            try connection.query(Self.selectMetricSummary, [.text(id)]) { row in
                best = row.optionalDouble(MetricSummaryColumn.bestEvalLoss)
                figures = MetricSummary(
                    points: row.int(MetricSummaryColumn.points), samplesPerSecondSum: row.double(MetricSummaryColumn.samplesPerSecondSum),
                    samplesPerSecondCount: row.int(MetricSummaryColumn.samplesPerSecondCount))
            }
            return try Self.save(stored, summary: .set(figures), changedBy: { job in try change(&job, best) }, on: connection)
        }
    }

    func aggregate(userID: String, filter: AggregateFilter, byModel: Bool) throws -> [MetricsAggregate] {
        var conditions = "user_id = ? AND created_at >= ? AND created_at < ?"
        var values: [SQLiteValue] = [
            .text(userID), .integer(filter.from?.millisecondsSinceEpoch ?? Int64.min), .integer(filter.to?.millisecondsSinceEpoch ?? Int64.max),
        ]
        if let modelName = filter.modelName {
            conditions += " AND model_name = ?"
            values.append(.text(modelName))
        }
        let jobs = """
            SELECT \(byModel ? "model_name" : "NULL") AS grouping, id, current_step, train_loss, eval_loss, best_eval_loss, metrics_points,
                samples_per_second_sum, samples_per_second_count
            FROM training_jobs WHERE \(conditions)
            """
        return try database.snapshot { connection in
            var results: [MetricsAggregate] = []
            try connection.query(
                "WITH j AS (\(jobs)) SELECT \(Self.aggregateColumns) FROM j \(byModel ? "GROUP BY grouping ORDER BY grouping" : "")", values
            ) { row in
                guard row.int(AggregateColumn.jobs) > 0 || !byModel else { return }
                results.append(
                    MetricsAggregate(
                        modelName: row.optionalString(AggregateColumn.grouping), jobs: Int(row.int(AggregateColumn.jobs)),
                        jobsWithMetrics: Int(row.int(AggregateColumn.jobsWithMetrics)), totalSteps: row.int(AggregateColumn.totalSteps),
                        bestEvalLoss: nil, averageFinalTrainLoss: row.optionalDouble(AggregateColumn.averageFinalTrainLoss),
                        averageFinalEvalLoss: row.optionalDouble(AggregateColumn.averageFinalEvalLoss),
                        averageSamplesPerSecond: row.optionalDouble(AggregateColumn.averageSamplesPerSecond)
                    ))
            }
            // The lowest best_eval_loss per group, then the first step that reached it.
            var bests: [String?: (Double, String)] = [:]
            try connection.query(
                """
                WITH j AS (\(jobs))
                SELECT \(Self.groupBestColumns) FROM (
                    SELECT grouping, id, best_eval_loss, row_number() OVER (PARTITION BY grouping ORDER BY best_eval_loss, id) AS rank
                    FROM j WHERE best_eval_loss IS NOT NULL
                ) WHERE rank = 1
                """,
                values
            ) { row in
                bests[row.optionalString(GroupBestColumn.grouping)] = (row.double(GroupBestColumn.value), row.string(GroupBestColumn.jobID))
            }
            for index in results.indices {
                guard let (value, jobID) = bests[results[index].modelName] else { continue }
                let step =
                    try connection.first(
                        "SELECT min(step) FROM training_metrics WHERE job_id = ? AND eval_loss = ?", [.text(jobID), .real(value)]
                    ) { $0.optionalInt(0) } ?? nil
                results[index].bestEvalLoss = MetricsAggregate.Best(value: value, jobID: jobID, step: step ?? 0)
            }
            return results
        }
    }

    func metrics(jobID: String, sinceStep: Int64?, limit: Int, offset: Int) throws -> (points: [MetricPoint], total: Int) {
        let after = sinceStep ?? -1
        return try database.snapshot { connection in
            var points: [MetricPoint] = []
            try connection.query(Self.selectPoints, [.text(jobID), .integer(after), .integer(Int64(limit)), .integer(Int64(offset))]) {
                points.append(MetricPoint(row: $0))
            }
            let total =
                try connection.first(
                    "SELECT count(*) FROM training_metrics WHERE job_id = ? AND step > ?", [.text(jobID), .integer(after)]
                ) { Int($0.int(0)) } ?? 0
            return (points, total)
        }
    }
}
