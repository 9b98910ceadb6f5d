import Domain
import FoundationEssentials
import HTTPCore
import JSON

/// FineTune Lab's training predictions: the trainer sends sample outputs per epoch, the SDK
/// (`training_predictions`) reads them, their epochs and their quality trends.
struct TrainingPredictionController {
    let jobs: NamedJob
    let predictions: any TrainingPredictionStore

    private static let maximumBatch = 500

    func register(on router: inout Router) {
        router.post("/api/training/local/predictions", auth: .namedJobTrainer, operation: .storePredictions, use: store)
        router.get("/api/training/predictions/{job:string}", auth: .scope(.training), operation: .listPredictions, use: list)
        router.get("/api/training/predictions/{job:string}/epochs", auth: .scope(.training), operation: .listPredictionEpochs, use: epochs)
        router.get("/api/training/predictions/{job:string}/trends", auth: .scope(.training), operation: .predictionTrends, use: trends)
    }

    func store(_ context: RequestContext) throws -> Response {
        let caller = try context.user
        let body = try context.jsonObject(allowingNonFiniteNumbers: true)
        try NamedJob.refuseForeignUser(in: body, caller: caller)
        let job = try jobs.find(in: body, for: caller)
        try NamedJob.refuseTrainerWriteAfterCancel(job, caller: caller)
        let records = try Self.records(body["predictions"], job: job, now: .now())
        try predictions.upsert(records, heldWith: caller.jobTokenHash)
        return .json(.object(["success": .bool(true), "count": .int(records.count)]))
    }

    func list(_ context: RequestContext) throws -> Response {
        let query = context.query
        let page = try Page(query: query, defaultLimit: 50, maximumLimit: Self.maximumBatch)
        let epoch = try query.integer("epoch", in: 0...Int(TrainingStep.maximum))
        let job = try jobs.find(context.parameter("job"), for: context.user)
        let found = try predictions.list(jobID: job.id, epoch: epoch.map(Int64.init), limit: page.limit, offset: page.offset)
        let name = NamedJob.publicName(of: job)
        return .json(
            .object([
                "job_id": .string(name), "predictions": .array(found.predictions.map { Self.json($0, jobName: name) }),
                "total_count": .int(found.totalCount), "epoch_count": .int(found.epochCount), "limit": .int(page.limit),
                "offset": .int(page.offset),
            ]))
    }

    func epochs(_ context: RequestContext) throws -> Response {
        let job = try jobs.find(context.parameter("job"), for: context.user)
        let epochs = try predictions.epochs(jobID: job.id).map { summary in
            JSONValue.object([
                "epoch": .int(summary.epoch), "prediction_count": .int(summary.count), "latest_step": .int(summary.latestStep),
            ])
        }
        return .json(.object(["job_id": .string(NamedJob.publicName(of: job)), "epochs": .array(epochs)]))
    }

    func trends(_ context: RequestContext) throws -> Response {
        let job = try jobs.find(context.parameter("job"), for: context.user)
        let epochs = try predictions.epochs(jobID: job.id)
        return .json(
            .object([
                "job_id": .string(NamedJob.publicName(of: job)), "trends": .array(epochs.map(Self.trend)),
                "overall_improvement": .double(Self.overallImprovement(epochs)),
            ]))
    }

    /// (first epoch's average CER − the last's) / the first's × 100, over the epochs that have one;
    /// nil with fewer than two such epochs or a first of 0.
    private static func overallImprovement(_ epochs: [PredictionEpochSummary]) -> Double? {
        let rates = epochs.compactMap(\.averageCharErrorRate)
        guard rates.count >= 2, let first = rates.first, let last = rates.last, first > 0 else { return nil }
        return (first - last) / first * 100
    }

    private static func trend(_ summary: PredictionEpochSummary) -> JSONValue {
        .object([
            "epoch": .int(summary.epoch), "step": .int(summary.latestStep), "sample_count": .int(summary.count),
            "avg_exact_match": .double(summary.averageExactMatch), "avg_char_error_rate": .double(summary.averageCharErrorRate),
            "avg_length_ratio": .double(summary.averageLengthRatio), "avg_word_overlap": .double(summary.averageWordOverlap),
            "min_char_error_rate": .double(summary.minimumCharErrorRate), "max_char_error_rate": .double(summary.maximumCharErrorRate),
            "validation_pass_rate": .double(summary.validationPassRate),
        ])
    }

    private static func json(_ record: TrainingPrediction, jobName: String) -> JSONValue {
        let errors = record.validationErrorsJSON.flatMap { try? JSONValue.parse(Array($0.utf8)) } ?? .null
        return .object([
            "id": .string(record.id), "job_id": .string(jobName), "epoch": .int(record.epoch), "step": .int(record.step),
            "sample_index": .int(record.sampleIndex), "prompt": .string(record.prompt), "prediction": .string(record.prediction),
            "ground_truth": .string(record.groundTruth), "exact_match": .double(record.exactMatch),
            "char_error_rate": .double(record.charErrorRate), "length_ratio": .double(record.lengthRatio),
            "word_overlap": .double(record.wordOverlap), "prompt_tokens": .int(record.promptTokens),
            "completion_tokens": .int(record.completionTokens), "total_tokens": .int(record.totalTokens), "latency_ms": .double(record.latencyMS),
            "validation_pass": record.validationPass.map(JSONValue.bool) ?? .null, "validation_kind": .string(record.validationKind),
            "validation_errors": errors, "created_at": .string(record.createdAt.iso8601),
        ])
    }

    /// The `predictions` array, checked whole before anything is stored; the first bad record is named.
    private static func records(_ value: JSONValue?, job: TrainingJob, now: Timestamp) throws(APIError) -> [TrainingPrediction] {
        guard case .array(let elements)? = value else {
            throw APIError.badRequest("predictions must be an array of 1 to \(maximumBatch) records")
        }
        guard (1...maximumBatch).contains(elements.count) else {
            throw APIError.badRequest("predictions must hold 1 to \(maximumBatch) records, not \(elements.count)")
        }
        var records: [TrainingPrediction] = []
        records.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            let at = "predictions[\(index)]"
            guard case .object(let object) = element else { throw APIError.badRequest("\(at) must be an object, not \(element.typeName)") }
            records.append(try record(object, at: at, job: job, now: now))
        }
        return records
    }

    private static func record(_ object: JSONObject, at: String, job: TrainingJob, now: Timestamp) throws(APIError) -> TrainingPrediction {
        // A record that names its job or user must name this job and its user.
        if let named = object["job_id"], named != .null {
            guard case .string(let name) = named, NamedJob.names(job, name) else { throw APIError.unauthorized }
        }
        if let user = object["user_id"], user != .null {
            guard case .string(let userID) = user, userID == job.userID else { throw APIError.unauthorized }
        }
        func integer(_ field: String, required: Bool) throws(APIError) -> Int64? {
            switch object[field] {
            case .int(let value)? where TrainingStep.range.contains(value): return value
            case .double(let value)? where value == value.rounded() && TrainingStep.range.contains(Int64(exactly: value) ?? -1):
                return Int64(value)
            case nil, .null?:
                if required { throw APIError.badRequest("\(at).\(field) is required") }
                return nil
            default: throw APIError.badRequest("\(at).\(field) must be an integer from 0 to \(TrainingStep.maximum)")
            }
        }
        func number(_ field: String) throws(APIError) -> Double? {
            switch object[field] {
            case nil, .null?: return nil
            case .int(let value)?: return Double(value)
            case .double(let value)?:
                guard value.isFinite else { throw APIError.badRequest("\(at).\(field) must be a finite number, not \(value)") }
                return value
            case let other?: throw APIError.badRequest("\(at).\(field) must be a number, not \(other.typeName)")
            }
        }
        func text(_ field: String, required: Bool) throws(APIError) -> String? {
            switch object[field] {
            case .string(let value)?:
                // PostgreSQL's text can't hold NUL; refused on every backend so both behave alike.
                guard !value.utf8.contains(0) else { throw APIError.badRequest("\(at).\(field) must not contain NUL characters") }
                return value
            case nil, .null?:
                if required { throw APIError.badRequest("\(at).\(field) is required") }
                return nil
            case let other?: throw APIError.badRequest("\(at).\(field) must be a string, not \(other.typeName)")
            }
        }
        var validationPass: Bool?
        switch object["validation_pass"] {
        case nil, .null?: break
        case .bool(let value)?: validationPass = value
        case let other?: throw APIError.badRequest("\(at).validation_pass must be a boolean, not \(other.typeName)")
        }
        var validationErrors: String?
        if let errors = object["validation_errors"], errors != .null {
            try rejectNonFinite(errors, at: "\(at).validation_errors")
            validationErrors = errors.jsonText
        }
        return TrainingPrediction(
            id: UUID().uuidString.lowercased(), jobID: job.id, epoch: try integer("epoch", required: true) ?? 0,
            step: try integer("step", required: true) ?? 0, sampleIndex: try integer("sample_index", required: true) ?? 0,
            prompt: try text("prompt", required: true) ?? "", prediction: try text("prediction", required: true) ?? "",
            groundTruth: try text("ground_truth", required: false), exactMatch: try number("exact_match"),
            charErrorRate: try number("char_error_rate"), lengthRatio: try number("length_ratio"), wordOverlap: try number("word_overlap"),
            promptTokens: try integer("prompt_tokens", required: false), completionTokens: try integer("completion_tokens", required: false),
            totalTokens: try integer("total_tokens", required: false), latencyMS: try number("latency_ms"), validationPass: validationPass,
            validationKind: try text("validation_kind", required: false), validationErrorsJSON: validationErrors, createdAt: now
        )
    }

    /// Non-finite numbers anywhere in a JSON value are a 400, as everywhere else.
    private static func rejectNonFinite(_ value: JSONValue, at: String) throws(APIError) {
        switch value {
        case .double(let number) where !number.isFinite: throw APIError.badRequest("\(at) must hold only finite numbers")
        case .array(let elements): for element in elements { try rejectNonFinite(element, at: at) }
        case .object(let object): for (_, element) in object.entries { try rejectNonFinite(element, at: at) }
        case .string(let text) where text.utf8.contains(0): throw APIError.badRequest("\(at) must not contain NUL characters")
        default: break
        }
    }
}
