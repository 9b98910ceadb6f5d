import Domain
import HTTPCore
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// Metrics of a job: the trainer's batch ingest and the UI's ordered list.
struct TrainingMetricsController {
    let jobs: any TrainingJobStore

    static let maximumBatch = 1000

    /// The fields a point may have; FineTune Lab's points may have its measures too, and `loss` (read apart: it is
    /// another name for `train_loss`).
    private static let knownFields = Set(MetricPoint.Measure.contract.map(\.name) + ["step", "timestamp"])
    private static let fineTuneLabFields = Set(MetricPoint.Measure.all.map(\.name) + ["step", "timestamp", "loss"])

    func register(on router: inout Router) {
        router.post("/api/training/jobs/{id:uuid}/metrics", auth: .trainer) { context in
            let body = try context.jsonObject(allowingNonFiniteNumbers: true)
            // FineTune Lab's trainers send one point as the whole body; the contract's batch is `{"metrics": [...]}`.
            let single = body["metrics"] == nil && body["step"] != nil
            let points: [MetricPoint]
            if single {
                points = [try Self.point(body, at: "", fineTuneLab: true)]
            } else {
                try FieldReader(body).rejectUnknown(["metrics"])
                points = try Self.points(body["metrics"])
            }
            guard try Self.ingest(points, jobID: context.parameter("id"), userID: context.user.userID, jobs: jobs) != nil else {
                throw APIError.notFound
            }
            return .json(.object(["success": .bool(true), "accepted": .int(points.count)]))
        }

        router.get("/api/training/metrics/aggregate", auth: .scope(.training)) { context in
            let query = context.query
            let from = try Self.time(query["from"], name: "from", endOfDay: false)
            let to = try Self.time(query["to"], name: "to", endOfDay: true)
            if let from, let to, from >= to { throw APIError.badRequest("from must be before to", message: "Invalid query parameter") }
            var byModel = false
            if let groupBy = query["group_by"] {
                guard groupBy == "model_name" else { throw APIError.badRequest("group_by must be model_name", message: "Invalid query parameter") }
                byModel = true
            }
            let filter = AggregateFilter(from: from, to: to, modelName: query["model_name"].flatMap { $0.isEmpty ? nil : $0 })
            let userID = try context.user.userID
            guard var body = try jobs.aggregate(userID: userID, filter: filter, byModel: false).first.map(Self.json) else {
                throw APIError.internalError
            }
            if byModel, case .object(var object) = body {
                object["groups"] = .array(try jobs.aggregate(userID: userID, filter: filter, byModel: true).map(Self.json))
                body = .object(object)
            }
            return .json(body)
        }

        router.get("/api/training/jobs/{id:uuid}/metrics", auth: .scope(.training)) { context in
            let query = context.query
            let page = try Page(query: query, defaultLimit: 1000, maximumLimit: 5000)
            let sinceStep = try query.integer("since_step", in: 0...Int(TrainingStep.maximum))
            guard let job = try jobs.find(id: context.parameter("id"), userID: context.user.userID) else { throw APIError.notFound }
            let (points, total) = try jobs.metrics(jobID: job.id, sinceStep: sinceStep.map(Int64.init), limit: page.limit, offset: page.offset)
            return .list(points.map(Self.json), total: total, page: page)
        }
    }

    /// Validates the whole batch before anything is stored; the first bad
    /// point is named by index and field.
    /// `fineTuneLab` admits the fields of FineTune Lab's points too.
    static func points(_ value: JSONValue?, fineTuneLab: Bool = false) throws(APIError) -> [MetricPoint] {
        guard case .array(let elements)? = value else {
            throw APIError.badRequest("metrics must be an array of 1 to \(maximumBatch) points")
        }
        guard (1...maximumBatch).contains(elements.count) else {
            throw APIError.badRequest("metrics must hold 1 to \(maximumBatch) points, not \(elements.count)")
        }
        var points: [MetricPoint] = []
        points.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .object(let object) = element else {
                throw APIError.badRequest("metrics[\(index)] must be an object, not \(element.typeName)")
            }
            points.append(try point(object, at: "metrics[\(index)]", fineTuneLab: fineTuneLab))
        }
        return points
    }

    /// One point; `at` names it in messages (`metrics[3]`, or empty for a point that is the whole body);
    /// `fineTuneLab` admits the fields of FineTune Lab's points too.
    static func point(_ object: JSONObject, at: @autoclosure () -> String, fineTuneLab: Bool) throws(APIError) -> MetricPoint {
        // The point's name is made only for a message.
        func name(_ field: String) -> String {
            let at = at()
            return at.isEmpty ? field : "\(at).\(field)"
        }
        let known = fineTuneLab ? fineTuneLabFields : knownFields
        if let unknown = object.keys.first(where: { !known.contains($0) }) {
            throw APIError.badRequest("\(name(unknown)) is not a metrics field")
        }
        var point: MetricPoint
        switch object["step"] {
        case .int(let step)? where TrainingStep.range.contains(step):
            point = MetricPoint(step: step)
        case nil, .null?:
            throw APIError.badRequest("\(name("step")) is required")
        default:
            throw APIError.badRequest("\(name("step")) must be an integer from 0 to \(TrainingStep.maximum)")
        }
        for measure in fineTuneLab ? MetricPoint.Measure.all : MetricPoint.Measure.contract {
            switch object[measure.name] {
            case nil, .null?:
                break
            case .int(let number)?:
                point[measure] = Double(number)
            case .double(let number)?:
                guard number.isFinite else { throw APIError.badRequest("\(name(measure.name)) must be a finite number, not \(number)") }
                point[measure] = number
            case let other?:
                throw APIError.badRequest("\(name(measure.name)) must be a number, not \(other.typeName)")
            }
        }
        // FineTune Lab's trainers call the training loss `loss`.
        switch object["loss"] {
        case nil, .null?:
            break
        case .int(let number)?:
            point.trainLoss = try alias(Double(number), of: point.trainLoss, name: name("loss"))
        case .double(let number)?:
            guard number.isFinite else { throw APIError.badRequest("\(name("loss")) must be a finite number, not \(number)") }
            point.trainLoss = try alias(number, of: point.trainLoss, name: name("loss"))
        case let other?:
            throw APIError.badRequest("\(name("loss")) must be a number, not \(other.typeName)")
        }
        switch object["timestamp"] {
        case nil, .null?:
            break
        case .string(let text)?:
            guard let time = Timestamp(iso8601: text) else { throw APIError.badRequest("\(name("timestamp")) must be an ISO 8601 time") }
            point.timestamp = time
        case let other?:
            throw APIError.badRequest("\(name("timestamp")) must be an ISO 8601 string, not \(other.typeName)")
        }
        return point
    }

    /// `loss` when `train_loss` is absent or the same; two different training losses for one point are a 400.
    private static func alias(_ loss: Double, of trainLoss: Double?, name: String) throws(APIError) -> Double {
        if let trainLoss, trainLoss != loss { throw APIError.badRequest("\(name) and train_loss differ; send one of them") }
        return loss
    }

    /// Stores `points` for the user's job `jobID` in one transaction and moves the job along: a
    /// pending job starts running, and its current step and losses follow the newest points.
    /// Nil when the user has no such job; a terminal job is a 409 and stores nothing. With
    /// `followsEpoch` (FineTune Lab's trainers, which report no epoch or progress otherwise) the
    /// job's current epoch and its progress (current / total steps) follow the newest point too.
    static func ingest(
        _ points: [MetricPoint], jobID: String, userID: String, jobs: any TrainingJobStore, followsEpoch: Bool = false
    ) throws -> TrainingJob? {
        let now = Timestamp.now()
        return try jobs.appendMetrics(id: jobID, userID: userID, points: points) { job, best in
            guard !job.status.isTerminal else {
                throw APIError(
                    .conflict, "The job is \(job.status.rawValue) and takes no more metrics",
                    details: "current status: \(job.status.rawValue)", code: "JOB_TERMINAL"
                )
            }
            if job.status == .pending { try job.transition(to: .running, at: now) }
            let previousStep = job.currentStep
            if let newest = points.max(by: { $0.step < $1.step }), newest.step >= previousStep {
                job.currentStep = newest.step
                if followsEpoch {
                    if let epoch = newest.epoch, epoch >= 0, epoch < 1_000_000 { job.currentEpoch = Int64(epoch.rounded(.down)) }
                    if let total = job.totalSteps, total > 0 { job.progress = min(100, Double(newest.step) / Double(total) * 100) }
                }
            }
            if let train = points.filter({ $0.trainLoss != nil }).max(by: { $0.step < $1.step }), train.step >= previousStep {
                job.trainLoss = train.trainLoss
            }
            if let eval = points.filter({ $0.evalLoss != nil }).max(by: { $0.step < $1.step }), eval.step >= previousStep {
                job.evalLoss = eval.evalLoss
            }
            job.bestEvalLoss = best
            job.updatedAt = now
        }
    }

    /// A date (`2025-12-19`: its start, or with `endOfDay` the start of the next day) or a date-time; absent → nil, empty is a 400.
    static func time(_ text: String?, name: String, endOfDay: Bool) throws(APIError) -> Timestamp? {
        guard let text else { return nil }
        guard let time = Timestamp(iso8601: text) else {
            throw APIError.badRequest("\(name) must be a date (YYYY-MM-DD) or an ISO 8601 time", message: "Invalid query parameter")
        }
        return endOfDay && text.utf8.count == 10 ? time.adding(seconds: 86_400) : time
    }

    static func json(_ aggregate: MetricsAggregate) -> JSONValue {
        var object = JSONObject()
        if let modelName = aggregate.modelName { object["model_name"] = .string(modelName) }
        object["jobs"] = .int(aggregate.jobs)
        object["jobs_with_metrics"] = .int(aggregate.jobsWithMetrics)
        object["total_steps"] = .int(aggregate.totalSteps)
        object["best_eval_loss"] =
            aggregate.bestEvalLoss.map { best in
                .object(["value": .double(best.value), "job_id": .string(best.jobID), "step": .int(best.step)])
            } ?? .null
        object["avg_final_train_loss"] = .double(aggregate.averageFinalTrainLoss)
        object["avg_final_eval_loss"] = .double(aggregate.averageFinalEvalLoss)
        object["avg_samples_per_second"] = .double(aggregate.averageSamplesPerSecond)
        return .object(object)
    }

    /// A point as clients see it, with `perplexity` = exp(eval_loss) where eval_loss is finite and below 100
    /// (the trainer's own figure when it sent one).
    static func json(_ point: MetricPoint) -> JSONValue {
        let perplexity = point.perplexity ?? point.evalLoss.flatMap { $0.isFinite && $0 < 100 ? exp($0) : nil }
        return .object([
            "step": .int(point.step), "epoch": .double(point.epoch), "train_loss": .double(point.trainLoss),
            "eval_loss": .double(point.evalLoss), "learning_rate": .double(point.learningRate), "grad_norm": .double(point.gradNorm),
            "gpu_memory_allocated_gb": .double(point.gpuMemoryAllocatedGB),
            "gpu_utilization_percent": .double(point.gpuUtilizationPercent),
            "samples_per_second": .double(point.samplesPerSecond), "tokens_per_second": .double(point.tokensPerSecond),
            "timestamp": .string(point.timestamp?.iso8601), "perplexity": .double(perplexity),
            "gpu_memory_reserved_gb": .double(point.gpuMemoryReservedGB), "train_perplexity": .double(point.trainPerplexity),
        ])
    }
}
