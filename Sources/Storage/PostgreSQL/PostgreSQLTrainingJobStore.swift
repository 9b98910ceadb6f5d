import Domain
import Essentials

/// The job columns as PostgreSQL reads and writes them (`config` is jsonb, read back as its text).
extension JobColumn: PostgreSQLTableColumn {
    var selected: String {
        if isTimestamp { return PostgreSQLSchema.milliseconds(name) }
        return self == .config ? "config::text" : name
    }

    /// The value of the statement's parameter `n` as this column's type.
    func parameter(_ number: Int) -> String {
        isTimestamp ? PostgreSQLSchema.timestamp(number) : "$\(number)"
    }

    func postgresValue(of job: TrainingJob) -> PostgreSQLValue {
        switch self {
        case .id: .text(job.id)
        case .userID: .text(job.userID)
        case .modelName: .text(job.modelName)
        case .datasetID: job.datasetID.postgres
        case .status: .text(job.status.rawValue)
        case .config: .text(job.configJSON)
        case .progress: .real(job.progress)
        case .currentStep: .integer(job.currentStep)
        case .totalSteps: job.totalSteps.postgres
        case .currentEpoch: .integer(job.currentEpoch)
        case .totalEpochs: job.totalEpochs.postgres
        case .trainLoss: job.trainLoss.postgres
        case .evalLoss: job.evalLoss.postgres
        case .bestEvalLoss: job.bestEvalLoss.postgres
        case .errorMessage: job.errorMessage.postgres
        case .resumedFromJobID: job.resumedFromJobID.postgres
        case .jobTokenHash: job.jobTokenHash.postgres
        case .createdAt: .integer(job.createdAt.millisecondsSinceEpoch)
        case .updatedAt: .integer(job.updatedAt.millisecondsSinceEpoch)
        case .startedAt: job.startedAt.map { .integer($0.millisecondsSinceEpoch) } ?? .null
        case .completedAt: job.completedAt.map { .integer($0.millisecondsSinceEpoch) } ?? .null
        case .externalID: job.externalID.postgres
        case .datasetPath: job.datasetPath.postgres
        case .jobToken: job.jobToken.postgres
        }
    }
}

/// The metric columns as one batch's arrays carry them.
extension MetricColumn: PostgreSQLTableColumn {
    /// The type of the array parameter that carries this column of a batch (timestamps as epoch milliseconds).
    var arrayType: String {
        switch self {
        case .step, .recordedAt: "int8[]"
        default: "float8[]"
        }
    }

    /// This column's value from the element `element` of its array (`PostgreSQLSchema.timestamp` on an element).
    func stored(_ element: String) -> String {
        self == .recordedAt ? "to_timestamp(\(element)::float8 / 1000)" : element
    }

    /// The value's text in an array literal (shortest round-tripping digits), or nil for NULL.
    func text(of point: MetricPoint) -> String? {
        if let measure { return point[measure].map { "\($0)" } }
        return self == .step ? String(point.step) : point.timestamp.map { String($0.millisecondsSinceEpoch) }
    }
}

/// Training jobs and their metrics in PostgreSQL, behaving as `SQLiteTrainingJobStore` does.
final class PostgreSQLTrainingJobStore: TrainingJobStore {

    /// `job_status_counts`, as `statusCounts` reads it.
    private enum StatusCountColumn: Int32, PostgreSQLColumn {
        case status, count

        var selected: String {
            switch self {
            case .status: "status"
            case .count: "count"
            }
        }
    }

    /// A job's metrics summary, computed over its points.
    private enum MetricSummaryColumn: Int32, PostgreSQLColumn {
        case bestEvalLoss, points, samplesPerSecondSum, samplesPerSecondCount

        var selected: String {
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

    }

    /// One group of `aggregate`, over the jobs of the common table `j` (which has a `grp` column).
    private enum AggregateColumn: Int32, PostgreSQLColumn {
        case grouping, jobs, jobsWithMetrics, totalSteps, averageFinalTrainLoss, averageFinalEvalLoss, averageSamplesPerSecond

        var selected: String {
            switch self {
            // Every row of a group has its one `grp` (NULL for the whole set, which has no GROUP BY).
            case .grouping: "min(grp)"
            case .jobs: "count(*)"
            case .jobsWithMetrics: "count(CASE WHEN metrics_points > 0 THEN 1 END)"
            case .totalSteps: "least(coalesce(sum(current_step), 0), 9223372036854775807)::int8"
            case .averageFinalTrainLoss: "avg(CASE WHEN metrics_points > 0 THEN train_loss END)"
            case .averageFinalEvalLoss: "avg(CASE WHEN metrics_points > 0 THEN eval_loss END)"
            case .averageSamplesPerSecond: "sum(samples_per_second_sum) / nullif(sum(samples_per_second_count), 0)::float8"
            }
        }
    }

    /// The job with the lowest `best_eval_loss` of one group of `aggregate` (the ranked table `b`),
    /// and the first step that reached it.
    private enum GroupBestColumn: Int32, PostgreSQLColumn {
        case grouping, jobID, value, step

        var selected: String {
            switch self {
            case .grouping: "grp"
            case .jobID: "id"
            case .value: "best_eval_loss"
            case .step: "(SELECT min(step) FROM training_metrics m WHERE m.job_id = b.id AND m.eval_loss = b.best_eval_loss)"
            }
        }
    }

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

    private let database: PostgreSQLDatabase

    init(database: PostgreSQLDatabase) { self.database = database }

    private static let selectStatusCounts = """
        SELECT \(StatusCountColumn.selectList) FROM job_status_counts WHERE user_id = $1 AND count > 0
        """
    /// Locks the dataset against a concurrent delete until the job that names it is committed.
    private static let selectOwnedDataset = "SELECT 1 FROM datasets WHERE id = $1 AND user_id = $2 FOR KEY SHARE"
    private static let insertRow = """
        INSERT INTO training_jobs (\(JobColumn.names)) VALUES (\(JobColumn.parameters))
        """
    private static let selectJobs = "SELECT \(JobColumn.selectList) FROM training_jobs"
    private static let selectByID = "\(selectJobs) WHERE id = $1 AND user_id = $2"
    private static let selectByIDForUpdate = "\(selectByID) FOR UPDATE"
    private static let selectByTokenHash = "\(selectJobs) WHERE job_token_hash = $1"
    private static let selectByExternalID = "\(selectJobs) WHERE user_id = $1 AND external_id = $2"
    private static let updatable = JobColumn.allCases.filter { !$0.isFixed }
    private static let updatedColumns = updatable.enumerated().map { "\($0.element.name) = \($0.element.parameter($0.offset + 1))" }
    private static let updateRow = "UPDATE training_jobs SET \(updatedColumns.joined(separator: ", ")) WHERE id = $\(updatable.count + 1)"
    /// The figures the job row keeps, in `summaryValues`' order.
    private static let summaryFigures = MetricSummaryColumn.allCases.filter { $0.summaryColumn != nil }
    private static let summaryAssignments = summaryFigures.enumerated().map {
        "\($0.element.summaryColumn ?? "") = $\(updatable.count + $0.offset + 1)"
    }
    /// `updateRow` that also stores the metrics summary (the `summaryFigures`' values follow the job's).
    private static let updateRowAndSummary = """
        UPDATE training_jobs SET \((updatedColumns + summaryAssignments).joined(separator: ", ")) \
        WHERE id = $\(updatable.count + summaryFigures.count + 1)
        """
    /// `updateRow` that also adds a batch's figures to the metrics summary (the `summaryFigures`' values follow the job's).
    private static let updateRowAddingToSummary = """
        UPDATE training_jobs SET \((updatedColumns + summaryFigures.enumerated().map {
            "\($0.element.summaryColumn ?? "") = \($0.element.summaryColumn ?? "") + $\(updatable.count + $0.offset + 1)"
        }).joined(separator: ", ")) \
        WHERE id = $\(updatable.count + summaryFigures.count + 1)
        """
    private static let selectLastStep = "SELECT max(step) FROM training_metrics WHERE job_id = $1"

    private static func summaryValues(_ summary: MetricSummary) -> [PostgreSQLValue] {
        [.integer(summary.points), .real(summary.samplesPerSecondSum), .integer(summary.samplesPerSecondCount)]
    }
    /// The whole batch in one statement: one array per column, a row per index.
    private static let upsertPoints = """
        INSERT INTO training_metrics (job_id, \(MetricColumn.names))
        SELECT $1::uuid, \(MetricColumn.allCases.map { $0.stored("p.\($0.name)") }.joined(separator: ", "))
        FROM unnest(\(MetricColumn.allCases.enumerated().map { "$\($0.offset + 2)::\($0.element.arrayType)" }.joined(separator: ", ")))
            AS p(\(MetricColumn.names))
        ON CONFLICT (job_id, step) DO UPDATE SET \
        \(MetricColumn.allCases.filter { $0 != .step }.map { "\($0.name) = excluded.\($0.name)" }.joined(separator: ", "))
        """
    private static let selectMetricSummary = "SELECT \(MetricSummaryColumn.selectList) FROM training_metrics WHERE job_id = $1"
    private static let selectPoints = """
        SELECT \(MetricColumn.selectList) FROM training_metrics WHERE job_id = $1 AND step > $2 ORDER BY step LIMIT $3 OFFSET $4
        """
    private static let countPoints = "SELECT count(*) FROM training_metrics WHERE job_id = $1 AND step > $2"

    /// `list`'s statements per filter: index 1 when filtering by status, + 2 by model.
    private static let listStatements: [PagedStatements] = (0..<4).map { variant in
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

    /// `aggregate`'s statements: index 1 when grouping by model, + 2 when filtering by model.
    /// A missing end of the range is an infinite timestamp, so the range is always two parameters.
    private static let aggregateStatements: [AggregateStatements] = (0..<4).map { variant in
        let byModel = variant & 1 != 0
        let jobs = """
            SELECT \(byModel ? "model_name" : "NULL::text") AS grp, id, current_step, train_loss, eval_loss, best_eval_loss, metrics_points,
                samples_per_second_sum, samples_per_second_count
            FROM training_jobs
            WHERE user_id = $1 AND created_at >= \(PostgreSQLSchema.timestamp(2)) AND created_at < \(PostgreSQLSchema.timestamp(3))\
            \(variant & 2 != 0 ? " AND model_name = $4" : "")
            """
        // Model names sort by their bytes, as SQLite's BINARY collation does.
        return AggregateStatements(
            groups: "WITH j AS (\(jobs)) SELECT \(AggregateColumn.selectList) FROM j \(byModel ? "GROUP BY grp ORDER BY grp COLLATE \"C\"" : "")",
            bests: """
                WITH j AS (\(jobs))
                SELECT \(GroupBestColumn.selectList) FROM (
                    SELECT grp, id, best_eval_loss, row_number() OVER (PARTITION BY grp ORDER BY best_eval_loss, id) AS rank
                    FROM j WHERE best_eval_loss IS NOT NULL
                ) b WHERE rank = 1
                """
        )
    }

    /// LIMIT and OFFSET as SQLite reads them: a negative limit is none, a negative offset is 0.
    private static func page(limit: Int, offset: Int) -> [PostgreSQLValue] {
        [limit < 0 ? .null : .integer(Int64(limit)), .integer(Int64(max(0, offset)))]
    }

    /// The user's job `id`, locked until the caller's write transaction ends, so concurrent changes
    /// to one job are applied one after the other.
    private static func lock(id: String, userID: String, on connection: PostgreSQLConnection) throws -> TrainingJob? {
        try connection.first(selectByIDForUpdate, [.text(id), .text(userID)], TrainingJob.init(row:))
    }

    /// Lets `change` modify the `stored` job and writes the result back (with its metrics summary changed by
    /// `summary`, when given), in the caller's write transaction. Returns the job as stored:
    /// the fixed fields keep their stored values whatever `change` did to them.
    private static func save(
        _ stored: TrainingJob, summary: MetricSummaryChange? = nil, changedBy change: (inout TrainingJob) throws -> Void,
        on connection: PostgreSQLConnection
    ) throws -> TrainingJob {
        let job = try stored.changed(by: change)
        var values = updatable.map { $0.postgresValue(of: job) }
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
                    guard isCanonicalUUID(datasetID),
                        try connection.first(Self.selectOwnedDataset, [.text(datasetID), .text(job.userID)], { _ in true }) != nil
                    else { throw StoreError.missingReference("dataset_id") }
                }
                if let resumedFrom = job.resumedFromJobID, !isCanonicalUUID(resumedFrom) {
                    throw StoreError.missingReference("resumed_from_job_id")
                }
                do {
                    try connection.run(Self.insertRow, JobColumn.allCases.map { $0.postgresValue(of: job) })
                } catch let error as PostgreSQLError where error.sqlState == "23503" {
                    // The one foreign key of a job row: its resumed-from job does not exist.
                    throw StoreError.missingReference("resumed_from_job_id")
                }
            }
        }
    }

    func find(id: String, userID: String) throws -> TrainingJob? {
        guard isCanonicalUUID(id) else { return nil }
        return try database.read { connection in
            try connection.first(Self.selectByID, [.text(id), .text(userID)], TrainingJob.init(row:))
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
        var values: [PostgreSQLValue] = [.text(userID)]
        var variant = 0
        if let status = filter.status {
            variant += 1
            values.append(.text(status.rawValue))
        }
        if let modelName = filter.modelName {
            variant += 2
            values.append(.text(modelName))
        }
        let statements = Self.listStatements[variant]
        return try database.snapshot { connection in
            var jobs: [TrainingJob] = []
            try connection.query(statements.page, values + Self.page(limit: limit, offset: offset)) { jobs.append(TrainingJob(row: $0)) }
            let total = try connection.first(statements.count, values) { Int($0.int(0)) } ?? 0
            return (jobs, total)
        }
    }

    func update(id: String, userID: String, _ change: (inout TrainingJob) throws -> Void) throws -> TrainingJob? {
        guard isCanonicalUUID(id) else { return nil }
        return try database.write { connection in
            guard let stored = try Self.lock(id: id, userID: userID, on: connection) else { return nil }
            return try Self.save(stored, changedBy: change, on: connection)
        }
    }

    func appendMetrics(
        id: String, userID: String, points: [MetricPoint], _ change: (inout TrainingJob, Double?) throws -> Void
    ) throws -> TrainingJob? {
        guard isCanonicalUUID(id) else { return nil }
        // A step sent twice in one batch keeps its last point, as one upsert per point would
        // (one INSERT … ON CONFLICT can't change a row twice).
        var latest: [Int64: Int] = [:]
        for (index, point) in points.enumerated() { latest[point.step] = index }
        let batch = points.indices.filter { latest[points[$0].step] == $0 }.map { points[$0] }
        let arrays = MetricColumn.allCases.map { column in
            PostgreSQLValue.text("{" + batch.map { column.text(of: $0) ?? "NULL" }.joined(separator: ",") + "}")
        }
        return try database.write { connection in
            guard let stored = try Self.lock(id: id, userID: userID, on: connection) else { return nil }
            let lastStep = try connection.first(Self.selectLastStep, [.text(id)]) { $0.optionalInt(0) } ?? nil
            if !batch.isEmpty { try connection.run(Self.upsertPoints, [.text(id)] + arrays) }
            // The job row carries its metrics' summary, so aggregates read job rows only, never every point.
            // A batch past the job's last step, in step order (what a trainer sends), replaces no point: it is
            // added to the summary. Any other may replace points, whose old values only a pass over all of the
            // job's points takes out.
            if MetricPoint.onlyFollow(lastStep, points) {
                let best = MetricPoint.lowestEvalLoss(points, below: stored.bestEvalLoss)
                return try Self.save(
                    stored, summary: .add(MetricSummary(batch: points)), changedBy: { job in try change(&job, best) }, on: connection)
            }
            let (best, figures) =
                try connection.first(Self.selectMetricSummary, [.text(id)]) { row in
                    (
                        row.optionalDouble(MetricSummaryColumn.bestEvalLoss),
                        MetricSummary(
                            points: row.int(MetricSummaryColumn.points), samplesPerSecondSum: row.double(MetricSummaryColumn.samplesPerSecondSum),
                            samplesPerSecondCount: row.int(MetricSummaryColumn.samplesPerSecondCount))
                    )
                } ?? (nil, MetricSummary(points: 0, samplesPerSecondSum: 0, samplesPerSecondCount: 0))
            return try Self.save(stored, summary: .set(figures), changedBy: { job in try change(&job, best) }, on: connection)
        }
    }

    func aggregate(userID: String, filter: AggregateFilter, byModel: Bool) throws -> [MetricsAggregate] {
        var values: [PostgreSQLValue] = [
            .text(userID), filter.from.map { .integer($0.millisecondsSinceEpoch) } ?? .text("-Infinity"),
            filter.to.map { .integer($0.millisecondsSinceEpoch) } ?? .text("Infinity"),
        ]
        if let modelName = filter.modelName { values.append(.text(modelName)) }
        let statements = Self.aggregateStatements[(byModel ? 1 : 0) + (filter.modelName == nil ? 0 : 2)]
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

    func metrics(jobID: String, sinceStep: Int64?, limit: Int, offset: Int) throws -> (points: [MetricPoint], total: Int) {
        guard isCanonicalUUID(jobID) else { return ([], 0) }
        let values: [PostgreSQLValue] = [.text(jobID), .integer(sinceStep ?? -1)]
        return try database.snapshot { connection in
            var points: [MetricPoint] = []
            try connection.query(Self.selectPoints, values + Self.page(limit: limit, offset: offset)) { points.append(MetricPoint(row: $0)) }
            let total = try connection.first(Self.countPoints, values) { Int($0.int(0)) } ?? 0
            return (points, total)
        }
    }
}
