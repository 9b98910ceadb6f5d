final class SQLiteTrainingJobStore: TrainingJobStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let columns = """
        id, user_id, model_name, dataset_id, status, config, progress, current_step, total_steps, current_epoch, \
        total_epochs, train_loss, eval_loss, best_eval_loss, error_message, resumed_from_job_id, job_token_hash, \
        created_at, updated_at, started_at, completed_at
        """

    private static func job(_ row: SQLiteRow) -> TrainingJob {
        TrainingJob(
            id: row.string(0), userID: row.string(1), modelName: row.string(2), datasetID: row.optionalString(3),
            status: JobStatus(rawValue: row.string(4)) ?? .pending, configJSON: row.string(5), progress: row.double(6),
            currentStep: row.int(7), totalSteps: row.optionalInt(8), currentEpoch: row.int(9), totalEpochs: row.optionalInt(10),
            trainLoss: row.optionalDouble(11), evalLoss: row.optionalDouble(12), bestEvalLoss: row.optionalDouble(13),
            errorMessage: row.optionalString(14), resumedFromJobID: row.optionalString(15), jobTokenHash: row.optionalString(16),
            createdAt: row.timestamp(17), updatedAt: row.timestamp(18), startedAt: row.optionalTimestamp(19),
            completedAt: row.optionalTimestamp(20)
        )
    }

    private static func values(_ job: TrainingJob) -> [SQLiteValue] {
        [
            .text(job.id), .text(job.userID), .text(job.modelName), job.datasetID.sqlite, .text(job.status.rawValue),
            .text(job.configJSON), .real(job.progress), .integer(job.currentStep), job.totalSteps.sqlite,
            .integer(job.currentEpoch), job.totalEpochs.sqlite, job.trainLoss.sqlite, job.evalLoss.sqlite,
            job.bestEvalLoss.sqlite, job.errorMessage.sqlite, job.resumedFromJobID.sqlite, job.jobTokenHash.sqlite,
            .integer(job.createdAt.millisecondsSinceEpoch), .integer(job.updatedAt.millisecondsSinceEpoch),
            job.startedAt.sqlite, job.completedAt.sqlite,
        ]
    }

    /// The user's job `id`, read on `connection` (inside the caller's transaction, if any).
    private static func fetch(id: String, userID: String, on connection: SQLiteConnection) throws -> TrainingJob? {
        try connection.first("SELECT \(columns) FROM training_jobs WHERE id = ? AND user_id = ?", [.text(id), .text(userID)], job)
    }

    func statusCounts(userID: String) throws -> JobStatusCounts {
        try database.read { connection in
            var counts = JobStatusCounts()
            try connection.query("SELECT status, count FROM job_status_counts WHERE user_id = ? AND count > 0", [.text(userID)]) { row in
                if let status = JobStatus(rawValue: row.string(0)) { counts.counts[status] = Int(row.int(1)) }
            }
            return counts
        }
    }

    func insert(_ jobs: [TrainingJob]) throws {
        _ = try database.write { connection in
            for job in jobs {
                if let datasetID = job.datasetID {
                    let owned = try connection.first(
                        "SELECT 1 FROM datasets WHERE id = ? AND user_id = ?", [.text(datasetID), .text(job.userID)]
                    ) { $0.int(0) }
                    guard owned != nil else { throw StoreError.missingReference("dataset_id") }
                }
                try connection.run(
                    "INSERT INTO training_jobs (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    Self.values(job)
                )
            }
        }
    }

    func find(id: String, userID: String) throws -> TrainingJob? {
        try database.read { connection in
            try Self.fetch(id: id, userID: userID, on: connection)
        }
    }

    func find(tokenHash: String) throws -> TrainingJob? {
        try database.read { connection in
            try connection.first("SELECT \(Self.columns) FROM training_jobs WHERE job_token_hash = ?", [.text(tokenHash)], Self.job)
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
        return try database.read { connection in
            var jobs: [TrainingJob] = []
            try connection.query(
                "SELECT \(Self.columns) FROM training_jobs WHERE \(conditions) ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                values + [.integer(Int64(limit)), .integer(Int64(offset))]
            ) { jobs.append(Self.job($0)) }
            let total = try connection.first("SELECT count(*) FROM training_jobs WHERE \(conditions)", values) { Int($0.int(0)) } ?? 0
            return (jobs, total)
        }
    }

    func update(id: String, userID: String, _ change: (inout TrainingJob) throws -> Void) throws -> TrainingJob? {
        try database.write { connection in
            guard var job = try Self.fetch(id: id, userID: userID, on: connection) else { return nil }
            try change(&job)
            try Self.save(job, on: connection)
            return job
        }
    }

    private static let metricColumns = """
        step, epoch, train_loss, eval_loss, learning_rate, grad_norm, gpu_memory_allocated_gb, gpu_utilization_percent, \
        samples_per_second, tokens_per_second, recorded_at
        """

    func appendMetrics(
        id: String, userID: String, points: [MetricPoint], _ change: (inout TrainingJob, Double?) throws -> Void
    ) throws -> TrainingJob? {
        try database.write { connection in
            guard var job = try Self.fetch(id: id, userID: userID, on: connection) else { return nil }
            for point in points {
                try connection.run(
                    """
                    INSERT INTO training_metrics (job_id, \(Self.metricColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (job_id, step) DO UPDATE SET epoch = excluded.epoch, train_loss = excluded.train_loss,
                        eval_loss = excluded.eval_loss, learning_rate = excluded.learning_rate, grad_norm = excluded.grad_norm,
                        gpu_memory_allocated_gb = excluded.gpu_memory_allocated_gb,
                        gpu_utilization_percent = excluded.gpu_utilization_percent,
                        samples_per_second = excluded.samples_per_second, tokens_per_second = excluded.tokens_per_second,
                        recorded_at = excluded.recorded_at
                    """,
                    [
                        .text(id), .integer(point.step), point.epoch.sqlite, point.trainLoss.sqlite, point.evalLoss.sqlite,
                        point.learningRate.sqlite, point.gradNorm.sqlite, point.gpuMemoryAllocatedGB.sqlite,
                        point.gpuUtilizationPercent.sqlite, point.samplesPerSecond.sqlite, point.tokensPerSecond.sqlite,
                        point.timestamp.sqlite,
                    ]
                )
            }
            // The job row carries its metrics' summary, so aggregates read job
            // rows only, never every point. One pass over this job's points.
            var best: Double?
            try connection.query(
                """
                SELECT min(eval_loss), count(*), coalesce(sum(samples_per_second), 0), count(samples_per_second)
                FROM training_metrics WHERE job_id = ?
                """,
                [.text(id)]
            ) { row in
                best = row.optionalDouble(0)
                try connection.run(
                    "UPDATE training_jobs SET metrics_points = ?, samples_per_second_sum = ?, samples_per_second_count = ? WHERE id = ?",
                    [.integer(row.int(1)), .real(row.double(2)), .integer(row.int(3)), .text(id)]
                )
            }
            try change(&job, best)
            try Self.save(job, on: connection)
            return job
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
            SELECT id, model_name, current_step, train_loss, eval_loss, best_eval_loss, metrics_points, samples_per_second_sum,
                samples_per_second_count
            FROM training_jobs WHERE \(conditions)
            """
        let group = byModel ? "j.model_name" : "NULL"
        return try database.read { connection in
            var results: [MetricsAggregate] = []
            try connection.query(
                """
                WITH j AS (\(jobs))
                SELECT \(group), count(*), count(CASE WHEN j.metrics_points > 0 THEN 1 END), coalesce(sum(j.current_step), 0),
                    avg(CASE WHEN j.metrics_points > 0 THEN j.train_loss END),
                    avg(CASE WHEN j.metrics_points > 0 THEN j.eval_loss END),
                    sum(j.samples_per_second_sum) / nullif(sum(j.samples_per_second_count), 0)
                FROM j
                \(byModel ? "GROUP BY j.model_name ORDER BY j.model_name" : "")
                """,
                values
            ) { row in
                guard row.int(1) > 0 || !byModel else { return }
                results.append(
                    MetricsAggregate(
                        modelName: row.optionalString(0), jobs: Int(row.int(1)), jobsWithMetrics: Int(row.int(2)), totalSteps: row.int(3),
                        bestEvalLoss: nil, averageFinalTrainLoss: row.optionalDouble(4), averageFinalEvalLoss: row.optionalDouble(5),
                        averageSamplesPerSecond: row.optionalDouble(6)
                    ))
            }
            // The lowest best_eval_loss per group, then the first step that reached it.
            var bests: [String?: (Double, String)] = [:]
            try connection.query(
                """
                WITH j AS (\(jobs))
                SELECT grouping, id, best_eval_loss FROM (
                    SELECT \(group) AS grouping, j.id, j.best_eval_loss,
                        row_number() OVER (PARTITION BY \(group) ORDER BY j.best_eval_loss, j.id) AS rank
                    FROM j WHERE j.best_eval_loss IS NOT NULL
                ) WHERE rank = 1
                """,
                values
            ) { row in bests[row.optionalString(0)] = (row.double(2), row.string(1)) }
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
        return try database.read { connection in
            var points: [MetricPoint] = []
            try connection.query(
                "SELECT \(Self.metricColumns) FROM training_metrics WHERE job_id = ? AND step > ? ORDER BY step LIMIT ? OFFSET ?",
                [.text(jobID), .integer(after), .integer(Int64(limit)), .integer(Int64(offset))]
            ) { row in
                points.append(
                    MetricPoint(
                        step: row.int(0), epoch: row.optionalDouble(1), trainLoss: row.optionalDouble(2), evalLoss: row.optionalDouble(3),
                        learningRate: row.optionalDouble(4), gradNorm: row.optionalDouble(5), gpuMemoryAllocatedGB: row.optionalDouble(6),
                        gpuUtilizationPercent: row.optionalDouble(7), samplesPerSecond: row.optionalDouble(8),
                        tokensPerSecond: row.optionalDouble(9), timestamp: row.optionalTimestamp(10)
                    ))
            }
            let total =
                try connection.first(
                    "SELECT count(*) FROM training_metrics WHERE job_id = ? AND step > ?", [.text(jobID), .integer(after)]
                ) { Int($0.int(0)) } ?? 0
            return (points, total)
        }
    }

    private static func save(_ job: TrainingJob, on connection: SQLiteConnection) throws {
        try connection.run(
            """
            UPDATE training_jobs SET model_name = ?, dataset_id = ?, status = ?, config = ?, progress = ?, current_step = ?,
                total_steps = ?, current_epoch = ?, total_epochs = ?, train_loss = ?, eval_loss = ?, best_eval_loss = ?,
                error_message = ?, updated_at = ?, started_at = ?, completed_at = ?
            WHERE id = ?
            """,
            [
                .text(job.modelName), job.datasetID.sqlite, .text(job.status.rawValue), .text(job.configJSON), .real(job.progress),
                .integer(job.currentStep), job.totalSteps.sqlite, .integer(job.currentEpoch), job.totalEpochs.sqlite,
                job.trainLoss.sqlite, job.evalLoss.sqlite, job.bestEvalLoss.sqlite, job.errorMessage.sqlite,
                .integer(job.updatedAt.millisecondsSinceEpoch), job.startedAt.sqlite, job.completedAt.sqlite, .text(job.id),
            ]
        )
    }
}
