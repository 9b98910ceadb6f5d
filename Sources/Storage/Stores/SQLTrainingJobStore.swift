import Domain

extension JobColumn {
    func value(of job: TrainingJob) -> SQLValue {
        switch self {
        case .id: .text(job.id)
        case .userID: .text(job.userID)
        case .modelName: .text(job.modelName)
        case .datasetID: job.datasetID.sql
        case .status: .text(job.status.rawValue)
        case .config: .text(job.configJSON)
        case .progress: .real(job.progress)
        case .currentStep: .integer(job.currentStep)
        case .totalSteps: job.totalSteps.sql
        case .currentEpoch: .integer(job.currentEpoch)
        case .totalEpochs: job.totalEpochs.sql
        case .trainLoss: job.trainLoss.sql
        case .evalLoss: job.evalLoss.sql
        case .bestEvalLoss: job.bestEvalLoss.sql
        case .errorMessage: job.errorMessage.sql
        case .resumedFromJobID: job.resumedFromJobID.sql
        case .jobTokenHash: job.jobTokenHash.sql
        case .createdAt: job.createdAt.sql
        case .updatedAt: job.updatedAt.sql
        case .startedAt: job.startedAt.sql
        case .completedAt: job.completedAt.sql
        case .externalID: job.externalID.sql
        case .datasetPath: job.datasetPath.sql
        case .jobToken: job.jobToken.sql
        case .agentID: job.agentID.sql
        case .claimedAt: job.claimedAt.sql
        case .attempts: .integer(job.attempts)
        case .leaseExpiresAt: job.leaseExpiresAt.sql
        }
    }
}

extension MetricColumn {
    func value(of point: MetricPoint) -> SQLValue {
        if let measure { return point[measure].sql }
        return self == .step ? .integer(point.step) : point.timestamp.sql
    }

    /// The column in a batch of points (`SQLDialect.rows`).
    var batchColumn: BatchColumn {
        switch self {
        case .step: BatchColumn(name, .integer)
        case .recordedAt: BatchColumn(name, .timestamp)
        default: BatchColumn(name, .real)
        }
    }
}

/// `job_status_counts`, as `statusCounts` reads it.
private enum StatusCountColumn: Int32, QueryColumn {
    case status, count

    func expression(_: SQLDialect) -> String {
        switch self {
        case .status: "status"
        case .count: "count"
        }
    }
}

/// A job's metrics summary, computed over its points.
private enum MetricSummaryColumn: Int32, QueryColumn {
    case bestEvalLoss, points, samplesPerSecondSum, samplesPerSecondCount

    func expression(_: SQLDialect) -> String {
        switch self {
        case .bestEvalLoss: "min(eval_loss)"
        case .points: "count(*)"
        case .samplesPerSecondSum: "coalesce(sum(samples_per_second), 0)"
        case .samplesPerSecondCount: "count(samples_per_second)"
        }
    }

    /// The `training_jobs` column that keeps the figure, if one does.
    var summaryColumn: String? {
        switch self {
        case .bestEvalLoss: nil
        case .points: "metrics_points"
        case .samplesPerSecondSum: "samples_per_second_sum"
        case .samplesPerSecondCount: "samples_per_second_count"
        }
    }

    /// The figures the job row keeps, in `MetricSummary.values`' order.
    static let kept = allCases.filter { $0.summaryColumn != nil }
}

extension MetricSummary {
    /// The figures in `MetricSummaryColumn.kept`'s order.
    fileprivate var values: [SQLValue] { [.integer(points), .real(samplesPerSecondSum), .integer(samplesPerSecondCount)] }
}

/// One group of `aggregate`, over the jobs of the common table `j` (which has a `grp` column).
private enum AggregateColumn: Int32, QueryColumn {
    case grouping, jobs, jobsWithMetrics, totalSteps, averageFinalTrainLoss, averageFinalEvalLoss, averageSamplesPerSecond

    func expression(_ sql: SQLDialect) -> String {
        switch self {
        // Every row of a group has its one `grp` (NULL for the whole set, which has no GROUP BY).
        case .grouping: "min(grp)"
        case .jobs: "count(*)"
        case .jobsWithMetrics: "count(CASE WHEN metrics_points > 0 THEN 1 END)"
        case .totalSteps: sql.saturatingSum("current_step")
        case .averageFinalTrainLoss: "avg(CASE WHEN metrics_points > 0 THEN train_loss END)"
        case .averageFinalEvalLoss: "avg(CASE WHEN metrics_points > 0 THEN eval_loss END)"
        case .averageSamplesPerSecond: "sum(samples_per_second_sum) / CAST(nullif(sum(samples_per_second_count), 0) AS DOUBLE PRECISION)"
        }
    }
}

/// The job with the lowest `best_eval_loss` of one group of `aggregate` (the ranked table `b`), and the first
/// step that reached it.
private enum GroupBestColumn: Int32, QueryColumn {
    case grouping, jobID, value, step

    func expression(_: SQLDialect) -> String {
        switch self {
        case .grouping: "grp"
        case .jobID: "id"
        case .value: "best_eval_loss"
        case .step: "(SELECT min(step) FROM training_metrics m WHERE m.job_id = b.id AND m.eval_loss = b.best_eval_loss)"
        }
    }
}

/// The job columns a change may write: all but those set at creation.
private let updatableJobColumns = JobColumn.allCases.filter { !$0.isFixed }

/// A page and its total, read with the same conditions.
private struct PagedStatements {
    let page: String
    let count: String
}

/// An aggregate's groups and each group's best, over the same jobs.
private struct AggregateStatements {
    let groups: String
    let bests: String
}

/// Training jobs and their metrics. A change to a job reads it locked (`FOR UPDATE` on PostgreSQL; SQLite's one
/// writer) and writes it back in the same transaction, so concurrent changes to one job, from any worker or
/// host, are applied one after the other.
final class SQLTrainingJobStore<Database: SQLDatabase>: TrainingJobStore {
    private let database: Database
    private let selectStatusCounts: String
    /// Keeps the dataset from a concurrent delete until the job that names it is committed.
    private let selectOwnedDataset: String
    private let insertRow: String
    private let selectByID: String
    private let lockByID: String
    private let selectByTokenHash: String
    private let selectByExternalID: String
    private let updateRow: String
    /// `updateRow` that also stores the metrics summary (the kept figures' values follow the job's).
    private let updateRowAndSummary: String
    /// `updateRow` that also adds a batch's figures to the metrics summary.
    private let updateRowAddingToSummary: String
    /// A batch of points in one statement (PostgreSQL; SQLite runs it per point); a point of a stored step replaces it.
    private let upsertPoints: String
    private let selectMetricSummary: String
    private let selectPoints: String
    /// `list`'s statements per filter: index 1 when filtering by status, + 2 by model.
    private let listStatements: [PagedStatements]
    /// `aggregate`'s statements: index 1 when grouping by model, + 2 when filtering by model.
    private let aggregateStatements: [AggregateStatements]

    private static var selectLastStep: String { "SELECT max(step) FROM training_metrics WHERE job_id = $1" }
    private static var countPoints: String { "SELECT count(*) FROM training_metrics WHERE job_id = $1 AND step > $2" }

    init(database: Database) {
        self.database = database
        let sql = database.dialect
        let selectJobs = "SELECT \(sql.selectList(JobColumn.self)) FROM training_jobs"
        selectStatusCounts = "SELECT \(sql.selectList(StatusCountColumn.self)) FROM job_status_counts WHERE user_id = $1 AND count > 0"
        selectOwnedDataset = "SELECT 1 FROM datasets WHERE id = $1 AND user_id = $2" + sql.forKeyShare
        insertRow = "INSERT INTO training_jobs (\(sql.names(JobColumn.self))) VALUES (\(sql.parameters(JobColumn.self)))"
        selectByID = "\(selectJobs) WHERE id = $1 AND user_id = $2"
        lockByID = selectByID + sql.forUpdate
        selectByTokenHash = "\(selectJobs) WHERE job_token_hash = $1"
        selectByExternalID = "\(selectJobs) WHERE user_id = $1 AND external_id = $2"

        let updatable = updatableJobColumns
        let assigned = sql.assignments(updatable, from: 1)
        let figures = MetricSummaryColumn.kept.compactMap(\.summaryColumn)
        let firstFigure = updatable.count + 1
        let idAfterFigures = updatable.count + figures.count + 1
        updateRow = "UPDATE training_jobs SET \(assigned) WHERE id = $\(updatable.count + 1)"
        let setFigures = figures.enumerated().map { "\($0.element) = $\(firstFigure + $0.offset)" }
        updateRowAndSummary = "UPDATE training_jobs SET \(([assigned] + setFigures).joined(separator: ", ")) WHERE id = $\(idAfterFigures)"
        let addFigures = figures.enumerated().map { "\($0.element) = \($0.element) + $\(firstFigure + $0.offset)" }
        updateRowAddingToSummary =
            "UPDATE training_jobs SET \(([assigned] + addFigures).joined(separator: ", ")) WHERE id = $\(idAfterFigures)"

        let points = sql.rows(fixed: [BatchColumn("job_id", .uuid)], MetricColumn.allCases.map(\.batchColumn))
        upsertPoints = """
            INSERT INTO training_metrics (job_id, \(sql.names(MetricColumn.self))) \(points)
            ON CONFLICT (job_id, step) DO UPDATE SET \
            \(MetricColumn.allCases.filter { $0 != .step }.map { "\($0.name) = excluded.\($0.name)" }.joined(separator: ", "))
            """
        selectMetricSummary = "SELECT \(sql.selectList(MetricSummaryColumn.self)) FROM training_metrics WHERE job_id = $1"
        selectPoints = """
            SELECT \(sql.selectList(MetricColumn.self)) FROM training_metrics WHERE job_id = $1 AND step > $2 ORDER BY step LIMIT $3 OFFSET $4
            """

        listStatements = (0..<4).map { variant in
            var conditions = "user_id = $1"
            var parameters = 1
            if variant & 1 != 0 {
                parameters += 1
                conditions += " AND status = $\(parameters)"
            }
            if variant & 2 != 0 {
                parameters += 1
                conditions += " AND model_name = $\(parameters)"
            }
            return PagedStatements(
                page: "\(selectJobs) WHERE \(conditions) ORDER BY created_at DESC, id DESC LIMIT $\(parameters + 1) OFFSET $\(parameters + 2)",
                count: "SELECT count(*) FROM training_jobs WHERE \(conditions)"
            )
        }

        // A missing end of the range is an infinite one, so the range is always two parameters.
        aggregateStatements = (0..<4).map { variant in
            let byModel = variant & 1 != 0
            let jobs = """
                SELECT \(byModel ? "model_name" : "CAST(NULL AS TEXT)") AS grp, id, current_step, train_loss, eval_loss, best_eval_loss,
                    metrics_points, samples_per_second_sum, samples_per_second_count
                FROM training_jobs
                WHERE user_id = $1 AND created_at >= \(sql.timestamp(2)) AND created_at < \(sql.timestamp(3))\
                \(variant & 2 != 0 ? " AND model_name = $4" : "")
                """
            return AggregateStatements(
                groups: """
                    WITH j AS (\(jobs)) SELECT \(sql.selectList(AggregateColumn.self)) FROM j\
                    \(byModel ? " GROUP BY grp ORDER BY grp\(sql.byteOrder)" : "")
                    """,
                bests: """
                    WITH j AS (\(jobs))
                    SELECT \(sql.selectList(GroupBestColumn.self)) FROM (
                        SELECT grp, id, best_eval_loss, row_number() OVER (PARTITION BY grp ORDER BY best_eval_loss, id) AS rank
                        FROM j WHERE best_eval_loss IS NOT NULL
                    ) b WHERE rank = 1
                    """
            )
        }
    }

    /// LIMIT and OFFSET as SQLite reads them: a negative limit is none, a negative offset is 0.
    private func page(limit: Int, offset: Int) -> [SQLValue] {
        [database.dialect.limit(limit), .integer(Int64(max(0, offset)))]
    }

    /// Lets `change` modify the `stored` job and writes the result back (with its metrics summary changed by
    /// `summary`, when given), in the caller's write transaction. Returns the job as stored: the fixed fields
    /// keep their stored values whatever `change` did to them.
    private func save(
        _ stored: TrainingJob, summary: MetricSummaryChange? = nil, changedBy change: (inout TrainingJob) throws -> Void,
        on connection: Database.Connection
    ) throws -> TrainingJob {
        let job = try stored.changed(by: change)
        var values = updatableJobColumns.map { $0.value(of: job) }
        let statement: String
        switch summary {
        case nil: statement = updateRow
        case .set(let figures)?: (statement, values) = (updateRowAndSummary, values + figures.values)
        case .add(let figures)?: (statement, values) = (updateRowAddingToSummary, values + figures.values)
        }
        values.append(.text(job.id))
        try connection.run(statement, values)
        return job
    }

    @_specialize(where Database == SQLiteDatabase)
    @_specialize(where Database == PostgreSQLDatabase)
    func statusCounts(userID: String) throws -> JobStatusCounts {
        try database.read { connection in
            var counts = JobStatusCounts()
            try connection.query(selectStatusCounts, [.text(userID)]) { row in
                if let status = row.jobStatus(StatusCountColumn.status) {
                    counts[status] = Int(row.int(StatusCountColumn.count))
                }
            }
            return counts
        }
    }

    @_specialize(where Database == SQLiteDatabase)
    @_specialize(where Database == PostgreSQLDatabase)
    func insert(_ jobs: [TrainingJob]) throws {
        _ = try database.write { connection in
            for job in jobs {
                if let datasetID = job.datasetID {
                    guard database.dialect.canName(datasetID),
                        try connection.first(selectOwnedDataset, [.text(datasetID), .text(job.userID)], { _ in true }) != nil
                    else { throw StoreError.missingReference("dataset_id") }
                }
                if let resumedFrom = job.resumedFromJobID, !database.dialect.canName(resumedFrom) {
                    throw StoreError.missingReference("resumed_from_job_id")
                }
                try connection.run(insertRow, JobColumn.allCases.map { $0.value(of: job) })
            }
        }
    }

    @_specialize(where Database == SQLiteDatabase)
    @_specialize(where Database == PostgreSQLDatabase)
    func find(id: String, userID: String) throws -> TrainingJob? {
        guard database.dialect.canName(id) else { return nil }
        return try database.read { connection in
            try connection.first(selectByID, [.text(id), .text(userID)], TrainingJob.init(row:))
        }
    }

    func find(externalID: String, userID: String) throws -> TrainingJob? {
        try database.read { connection in
            try connection.first(selectByExternalID, [.text(userID), .text(externalID)], TrainingJob.init(row:))
        }
    }

    @_specialize(where Database == SQLiteDatabase)
    @_specialize(where Database == PostgreSQLDatabase)
    func find(tokenHash: String) throws -> TrainingJob? {
        try database.read { connection in
            try connection.first(selectByTokenHash, [.text(tokenHash)], TrainingJob.init(row:))
        }
    }

    @_specialize(where Database == SQLiteDatabase)
    @_specialize(where Database == PostgreSQLDatabase)
    func list(userID: String, filter: JobFilter, limit: Int, offset: Int) throws -> (jobs: [TrainingJob], total: Int) {
        var values: [SQLValue] = [.text(userID)]
        var variant = 0
        if let status = filter.status {
            variant += 1
            values.append(.text(status.rawValue))
        }
        if let modelName = filter.modelName {
            variant += 2
            values.append(.text(modelName))
        }
        let statements = listStatements[variant]
        return try database.snapshot { connection in
            var jobs: [TrainingJob] = []
            try connection.query(statements.page, values + page(limit: limit, offset: offset)) { jobs.append(TrainingJob(row: $0)) }
            let total = try connection.first(statements.count, values) { Int($0.int(0)) } ?? 0
            return (jobs, total)
        }
    }

    @_specialize(where Database == SQLiteDatabase)
    @_specialize(where Database == PostgreSQLDatabase)
    func update(id: String, userID: String, _ change: (inout TrainingJob) throws -> Void) throws -> TrainingJob? {
        guard database.dialect.canName(id) else { return nil }
        return try database.write { connection in
            guard let stored = try connection.first(lockByID, [.text(id), .text(userID)], TrainingJob.init(row:)) else { return nil }
            return try save(stored, changedBy: change, on: connection)
        }
    }

    @_specialize(where Database == SQLiteDatabase)
    @_specialize(where Database == PostgreSQLDatabase)
    func appendMetrics(
        id: String, userID: String, points: [MetricPoint], _ change: (inout TrainingJob, Double?) throws -> Void
    ) throws -> TrainingJob? {
        guard database.dialect.canName(id) else { return nil }
        // A step sent twice in one batch keeps its last point, as one upsert per point would (one INSERT …
        // ON CONFLICT can't change a row twice on PostgreSQL). A batch in step order, as trainers send, has none.
        var batch = points
        if !MetricPoint.onlyFollow(nil, points) {
            var latest: [Int64: Int] = [:]
            for (index, point) in points.enumerated() { latest[point.step] = index }
            batch = points.indices.filter { latest[points[$0].step] == $0 }.map { points[$0] }
        }
        let rows = batch.map { point in MetricColumn.allCases.map { $0.value(of: point) } }
        return try database.write { connection in
            guard let stored = try connection.first(lockByID, [.text(id), .text(userID)], TrainingJob.init(row:)) else { return nil }
            let lastStep = try connection.first(Self.selectLastStep, [.text(id)]) { $0.optionalInt(0) } ?? nil
            if !rows.isEmpty { try connection.run(upsertPoints, fixed: [.text(id)], rows: rows) }
            // The job row carries its metrics' summary, so aggregates read job rows only, never every point.
            // A batch past the job's last step, in step order (what a trainer sends), replaces no point: it is
            // added to the summary. Any other may replace points, whose old values only a pass over all of the
            // job's points takes out.
            if MetricPoint.onlyFollow(lastStep, points) {
                let best = MetricPoint.lowestEvalLoss(points, below: stored.bestEvalLoss)
                return try save(stored, summary: .add(MetricSummary(batch: points)), changedBy: { job in try change(&job, best) }, on: connection)
            }
            let (best, figures) =
                try connection.first(selectMetricSummary, [.text(id)]) { row in
                    (
                        row.optionalDouble(MetricSummaryColumn.bestEvalLoss),
                        MetricSummary(
                            points: row.int(MetricSummaryColumn.points), samplesPerSecondSum: row.double(MetricSummaryColumn.samplesPerSecondSum),
                            samplesPerSecondCount: row.int(MetricSummaryColumn.samplesPerSecondCount))
                    )
                } ?? (nil, MetricSummary(points: 0, samplesPerSecondSum: 0, samplesPerSecondCount: 0))
            return try save(stored, summary: .set(figures), changedBy: { job in try change(&job, best) }, on: connection)
        }
    }

    func aggregate(userID: String, filter: AggregateFilter, byModel: Bool) throws -> [MetricsAggregate] {
        var values: [SQLValue] = [
            .text(userID), filter.from?.sql ?? .real(-.infinity), filter.to?.sql ?? .real(.infinity),
        ]
        if let modelName = filter.modelName { values.append(.text(modelName)) }
        let statements = aggregateStatements[(byModel ? 1 : 0) + (filter.modelName == nil ? 0 : 2)]
        return try database.snapshot { connection in
            var results: [MetricsAggregate] = []
            try connection.query(statements.groups, values) { row in
                results.append(
                    MetricsAggregate(
                        modelName: row.optionalString(AggregateColumn.grouping), jobs: Int(row.int(AggregateColumn.jobs)),
                        jobsWithMetrics: Int(row.int(AggregateColumn.jobsWithMetrics)), totalSteps: row.int(AggregateColumn.totalSteps),
                        bestEvalLoss: nil, averageFinalTrainLoss: row.optionalDouble(AggregateColumn.averageFinalTrainLoss),
                        averageFinalEvalLoss: row.optionalDouble(AggregateColumn.averageFinalEvalLoss),
                        averageSamplesPerSecond: row.optionalDouble(AggregateColumn.averageSamplesPerSecond)
                    ))
            }
            // The lowest best_eval_loss per group, and the first step that reached it.
            var bests: [String?: MetricsAggregate.Best] = [:]
            try connection.query(statements.bests, values) { row in
                bests[row.optionalString(GroupBestColumn.grouping)] = MetricsAggregate.Best(
                    value: row.double(GroupBestColumn.value), jobID: row.string(GroupBestColumn.jobID),
                    step: row.optionalInt(GroupBestColumn.step) ?? 0
                )
            }
            for index in results.indices {
                results[index].bestEvalLoss = bests[results[index].modelName]
            }
            return results
        }
    }

    @_specialize(where Database == SQLiteDatabase)
    @_specialize(where Database == PostgreSQLDatabase)
    func metrics(jobID: String, sinceStep: Int64?, limit: Int, offset: Int) throws -> (points: [MetricPoint], total: Int) {
        guard database.dialect.canName(jobID) else { return ([], 0) }
        let values: [SQLValue] = [.text(jobID), .integer(sinceStep ?? -1)]
        return try database.snapshot { connection in
            var points: [MetricPoint] = []
            try connection.query(selectPoints, values + page(limit: limit, offset: offset)) { points.append(MetricPoint(row: $0)) }
            let total = try connection.first(Self.countPoints, values) { Int($0.int(0)) } ?? 0
            return (points, total)
        }
    }
}
