import Domain
import FoundationEssentials
import HTTPCore
import JSON

/// The job lifecycle: list, create, read, cancel, restart, and the trainer's PATCH.
struct TrainingJobController {
    let training: TrainingService
    let datasets: any DatasetStore
    let files: DatasetFiles

    func register(on router: inout Router) {
        router.get("/api/training/jobs", auth: .scope(.training), operation: .listTrainingJobs, use: list)
        router.post("/api/training/jobs", auth: .scope(.training), operation: .createTrainingJob, use: create)
        router.get("/api/training/jobs/{id:uuid}", auth: .scope(.training), operation: .showTrainingJob, use: show)
        router.patch("/api/training/jobs/{id:uuid}", auth: .trainer, operation: .updateTrainingJob, use: update)
        router.get("/api/training/jobs/{id:uuid}/dataset", auth: .trainer, operation: .downloadTrainingJobDataset, use: dataset)
        router.post("/api/training/jobs/{id:uuid}/cancel", auth: .scope(.training), operation: .cancelTrainingJob, use: cancel)
        router.post("/api/training/jobs/{id:uuid}/restart", auth: .scope(.training), operation: .restartTrainingJob, use: restart)
    }

    func list(_ context: RequestContext) throws -> Response {
        let query = context.query
        let page = try Page(query: query)
        var filter = JobFilter()
        if let status = query["status"] {
            filter.status = try Self.status(status, message: "Invalid query parameter")
        }
        if let modelName = query["model_name"], !modelName.isEmpty { filter.modelName = modelName }
        let (found, total) = try training.jobs.list(userID: context.user.userID, filter: filter, limit: page.limit, offset: page.offset)
        let items = found.map { $0.json() }
        // FineTune Lab's SDK (`list_jobs`) reads `jobs`, `count` and `success` beside the contract's list.
        return .json(
            .object([
                "data": .array(items), "total": .int(total), "limit": .int(page.limit), "offset": .int(page.offset), "jobs": .array(items),
                "count": .int(items.count), "success": .bool(true),
            ]))
    }

    func create(_ context: RequestContext) throws -> Response {
        let fields = FieldReader(try context.jsonObject())
        try fields.rejectUnknown(["model_name", "dataset_id", "config", "total_steps", "total_epochs"])
        guard let modelName = try fields.string("model_name", required: true, length: 1...200) else {
            throw APIError.badRequest("model_name is required")
        }
        var datasetID: String?
        switch fields.object["dataset_id"] {
        case nil, .null?:
            break
        case .string(let text)?:
            // Not a UUID can't name a dataset; the insert checks the rest (same user) in its transaction.
            guard UUID(uuidString: text) != nil else { throw Self.unknownDataset }
            datasetID = text.lowercased()
        case let other?:
            throw APIError.badRequest("dataset_id must be a string, not \(other.typeName)")
        }
        let config = try fields.object("config") ?? JSONObject()
        let now = Timestamp.now()
        let token = JobToken.generate()
        let job = TrainingJob(
            id: UUID().uuidString.lowercased(), userID: try context.user.userID, modelName: modelName, datasetID: datasetID,
            configJSON: JSONValue.object(config).jsonText, totalSteps: try fields.integer("total_steps", in: 1...TrainingStep.maximum),
            totalEpochs: try fields.integer("total_epochs", in: 1...TrainingEpoch.maximum), jobTokenHash: JobToken.hash(token), createdAt: now
        )
        do {
            try training.jobs.insert([job])
        } catch StoreError.missingReference {
            throw Self.unknownDataset
        }
        return .resource(id: job.id, data: job.json(token: token), status: .created)
    }

    func show(_ context: RequestContext) throws -> Response {
        let job = try training.job(id: context.parameter("id"), userID: context.user.userID)
        return .resource(id: job.id, data: job.json())
    }

    func cancel(_ context: RequestContext) throws -> Response {
        let updated = try training.jobs.update(id: context.parameter("id"), userID: context.user.userID) { job in
            try job.transition(to: .cancelled, at: .now())
        }
        guard updated != nil else { throw APIError.notFound }
        return .action("Job cancelled")
    }

    func restart(_ context: RequestContext) throws -> Response {
        let userID = try context.user.userID
        let original = try training.job(id: context.parameter("id"), userID: userID)
        guard original.status == .failed || original.status == .cancelled else {
            throw APIError(
                .conflict, "Only failed or cancelled jobs can be restarted; this job is \(original.status.rawValue)",
                details: "current status: \(original.status.rawValue)", code: "INVALID_STATUS_TRANSITION"
            )
        }
        let token = JobToken.generate()
        let job = TrainingJob(
            id: UUID().uuidString.lowercased(), userID: userID, modelName: original.modelName, datasetID: original.datasetID,
            configJSON: original.configJSON, totalSteps: original.totalSteps, totalEpochs: original.totalEpochs,
            resumedFromJobID: original.id, jobTokenHash: JobToken.hash(token), createdAt: .now()
        )
        do {
            try training.jobs.insert([job])
        } catch StoreError.missingReference {
            throw APIError(
                .conflict, "The job's dataset was deleted", details: "dataset_id \(original.datasetID ?? "") no longer exists",
                code: "DATASET_DELETED")
        }
        return .resource(id: job.id, data: job.json(token: token), status: .created)
    }

    /// The trainer reads its job's dataset; a job token is admitted for its own job only, and the job's user owns the dataset.
    func dataset(_ context: RequestContext) throws -> Response {
        let job = try training.job(id: context.parameter("id"), userID: context.user.userID)
        guard let datasetID = job.datasetID else {
            throw APIError(.notFound, "This job has no dataset", code: "NOT_FOUND")
        }
        guard let record = try datasets.find(id: datasetID, userID: job.userID) else {
            throw APIError(
                .conflict, "The job's dataset was deleted", details: "dataset_id \(datasetID) no longer exists", code: "DATASET_DELETED")
        }
        return DatasetDownload.response(for: record, files: files, request: context.request)
    }

    func update(_ context: RequestContext) throws -> Response {
        let fields = FieldReader(try context.jsonObject())
        try fields.rejectUnknown(["status", "progress", "current_step", "total_steps", "current_epoch", "total_epochs", "error_message"])
        var status: JobStatus?
        if let name = try fields.string("status", required: false, length: 1...32) {
            status = try Self.status(name, message: "Invalid request")
        }
        let progress = try fields.number("progress", in: 0...100)
        let currentStep = try fields.integer("current_step", in: TrainingStep.range)
        let totalSteps = try fields.integer("total_steps", in: 1...TrainingStep.maximum)
        let currentEpoch = try fields.integer("current_epoch", in: 0...TrainingEpoch.maximum)
        let totalEpochs = try fields.integer("total_epochs", in: 1...TrainingEpoch.maximum)
        let errorMessage = try fields.string("error_message", required: false, length: 0...10_000)
        let clearsError = fields.has("error_message") && errorMessage == nil

        let updated = try training.update(
            id: context.parameter("id"), userID: context.user.userID, status: status, tokenHash: context.user.jobTokenHash
        ) { job in
            if let progress { job.progress = progress }
            if let currentStep { job.currentStep = currentStep }
            if let totalSteps { job.totalSteps = totalSteps }
            if let currentEpoch { job.currentEpoch = currentEpoch }
            if let totalEpochs { job.totalEpochs = totalEpochs }
            if let errorMessage { job.errorMessage = errorMessage } else if clearsError { job.errorMessage = nil }
        }
        return .resource(id: updated.id, data: updated.json())
    }

    private static let unknownDataset = APIError.badRequest("dataset_id does not name one of your datasets", message: "Unknown dataset")

    /// A status name, or a 400 that lists the statuses.
    private static func status(_ name: String, message: String) throws(APIError) -> JobStatus {
        guard let status = JobStatus(rawValue: name) else {
            throw APIError.badRequest("status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))", message: message)
        }
        return status
    }
}
