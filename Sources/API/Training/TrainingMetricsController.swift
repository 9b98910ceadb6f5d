import Domain
import HTTPCore
import JSON

/// Metrics of a job: the trainer's batch ingest and the UI's ordered list.
struct TrainingMetricsController {
    let training: TrainingService

    func register(on router: inout Router) {
        router.post("/api/training/jobs/{id:uuid}/metrics", auth: .trainer, operation: .reportMetrics, use: report)
        router.get("/api/training/metrics/aggregate", auth: .scope(.training), operation: .aggregateMetrics, use: aggregate)
        router.get("/api/training/jobs/{id:uuid}/metrics", auth: .scope(.training), operation: .listMetrics, use: list)
    }

    func report(_ context: RequestContext) throws -> Response {
        let body = try context.jsonObject(allowingNonFiniteNumbers: true)
        // FineTune Lab's trainers send one point as the whole body; the contract's batch is `{"metrics": [...]}`.
        let single = body["metrics"] == nil && body["step"] != nil
        let points: [MetricPoint]
        if single {
            points = [try MetricPointReader.fineTuneLab.point(body, at: "")]
        } else {
            try FieldReader(body).rejectUnknown(["metrics"])
            points = try MetricPointReader.contract.points(body["metrics"])
        }
        try training.ingest(points, jobID: context.parameter("id"), userID: context.user.userID, tokenHash: context.user.jobTokenHash)
        return .json(.object(["success": .bool(true), "accepted": .int(points.count)]))
    }

    func aggregate(_ context: RequestContext) throws -> Response {
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
        guard var body = try training.jobs.aggregate(userID: userID, filter: filter, byModel: false).first.map(Self.json) else {
            throw APIError.internalError
        }
        if byModel, case .object(var object) = body {
            object["groups"] = .array(try training.jobs.aggregate(userID: userID, filter: filter, byModel: true).map(Self.json))
            body = .object(object)
        }
        return .json(body)
    }

    func list(_ context: RequestContext) throws -> Response {
        let query = context.query
        let page = try Page(query: query, defaultLimit: 1000, maximumLimit: 5000)
        let sinceStep = try query.integer("since_step", in: 0...Int(TrainingStep.maximum))
        let job = try training.job(id: context.parameter("id"), userID: context.user.userID)
        let (points, total) = try training.jobs.metrics(
            jobID: job.id, sinceStep: sinceStep.map(Int64.init), limit: page.limit, offset: page.offset)
        return .list(points.map(\.json), total: total, page: page)
    }

    /// A date (`2025-12-19`: its start, or with `endOfDay` the start of the next day) or a date-time; absent → nil, empty is a 400.
    private static func time(_ text: String?, name: String, endOfDay: Bool) throws(APIError) -> Timestamp? {
        guard let text else { return nil }
        guard let time = Timestamp(iso8601: text) else {
            throw APIError.badRequest("\(name) must be a date (YYYY-MM-DD) or an ISO 8601 time", message: "Invalid query parameter")
        }
        return endOfDay && text.utf8.count == 10 ? time.adding(seconds: 86_400) : time
    }

    private static func json(_ aggregate: MetricsAggregate) -> JSONValue {
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
}
