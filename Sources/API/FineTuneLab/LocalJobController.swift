import Domain
import FoundationEssentials
import HTTPCore
import JSON

/// FineTune Lab's job registration, on the contract's jobs: a job registered here is the same
/// job in `/api/training/jobs`, and follows the same state machine.
struct LocalJobController {
    let training: TrainingService

    /// What a job made here is called when its trainer names no model.
    private static let unnamedModel = "unknown"

    func register(on router: inout Router) {
        router.post("/api/training/local/jobs", auth: .scope(.training), operation: .registerLocalJob, use: registerJob)
    }

    func registerJob(_ context: RequestContext) throws -> Response {
        let caller = try context.user
        let body = try context.jsonObject()
        try NamedJob.refuseForeignUser(in: body, caller: caller)
        let registration = try Registration(body)
        let (job, token) = try upsert(registration, caller: caller)
        return .json(
            .object([
                "success": .bool(true), "persisted": .bool(true), "job_id": .string(NamedJob.publicName(of: job)), "id": .string(job.id),
                "user_id": .string(job.userID), "job_token": .string(token), "status": .string(job.status.rawValue),
            ]))
    }

    /// The body of `POST /api/training/local/jobs`, checked whole before anything is stored.
    private struct Registration {
        var externalID: String
        var status: JobStatus?
        var modelName: String?
        var datasetPath: String?
        var config: JSONObject?
        var totalSteps: Int64?
        var totalEpochs: Int64?
        var token: String?

        init(_ body: JSONObject) throws(APIError) {
            let fields = FieldReader(body)
            guard let externalID = try fields.string("job_id", required: true, length: ExternalJobID.lengths) else {
                throw APIError.badRequest("job_id is required")
            }
            guard ExternalJobID.isValid(externalID) else {
                throw APIError.badRequest("job_id must be 1 to 200 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'")
            }
            self.externalID = externalID
            if let name = try fields.string("status", required: false, length: 1...32) {
                // The original platform queues jobs; here a job waiting for its trainer is pending.
                guard let status = name == "queued" ? .pending : JobStatus(rawValue: name) else {
                    throw APIError.badRequest("status must be one of queued, \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                self.status = status
            }
            modelName = try fields.string("model_name", required: false, length: 1...200)
            datasetPath = try fields.string("dataset_path", required: false, length: 0...4096)
            config = try fields.object("config")
            totalSteps = try fields.integer("total_steps", in: 1...TrainingStep.maximum)
            totalEpochs = try fields.integer("total_epochs", in: 1...TrainingEpoch.maximum)
            token = try fields.string("job_token", required: false, length: 32...256)
            if let token, !JobToken.isAcceptableCallerToken(token) {
                throw APIError.badRequest("job_token must be 32 to 256 printable characters without spaces, and not an API key")
            }
        }
    }

    /// Creates the caller's job `externalID`, or updates it when it exists; returns the job and its token.
    private func upsert(_ registration: Registration, caller: Principal) throws -> (TrainingJob, String) {
        if let existing = try training.jobs.find(externalID: registration.externalID, userID: caller.userID) {
            return try update(existing, with: registration)
        }
        // A new job starts pending, or running when its trainer says so; no other status starts a job.
        let status: JobStatus = registration.status == .running ? .running : .pending
        let now = Timestamp.now()
        let token = registration.token ?? JobToken.generate()
        var job = TrainingJob(
            id: UUID().uuidString.lowercased(), userID: caller.userID, modelName: registration.modelName ?? Self.unnamedModel,
            configJSON: JSONValue.object(registration.config ?? JSONObject()).jsonText, totalSteps: registration.totalSteps,
            totalEpochs: registration.totalEpochs, jobTokenHash: JobToken.hash(token), createdAt: now, externalID: registration.externalID,
            datasetPath: registration.datasetPath, jobToken: token
        )
        if status == .running { try job.transition(to: .running, at: now) }
        do {
            try training.jobs.insert([job])
        } catch StoreError.duplicate {
            // Two registrations of one job_id raced and the other one created it; or the chosen token is taken.
            if let existing = try training.jobs.find(externalID: registration.externalID, userID: caller.userID) {
                return try update(existing, with: registration)
            }
            throw APIError(.conflict, "job_token is already in use", details: "choose another job_token, or send none", code: "DUPLICATE_TOKEN")
        }
        return (job, token)
    }

    /// A later registration: the given fields change, a status equal to the current one changes nothing,
    /// another follows the state machine; the token stays the job's. A job whose token a training agent's claim
    /// retired has no token to give: a 409 `JOB_REASSIGNED`, changing nothing.
    private func update(_ existing: TrainingJob, with registration: Registration) throws -> (TrainingJob, String) {
        guard existing.jobToken != nil else { throw APIError.jobReassigned }
        let updated = try training.update(id: existing.id, userID: existing.userID, status: registration.status) { job in
            if let modelName = registration.modelName { job.modelName = modelName }
            if let datasetPath = registration.datasetPath { job.datasetPath = datasetPath }
            if let config = registration.config { job.configJSON = JSONValue.object(config).jsonText }
            if let totalSteps = registration.totalSteps { job.totalSteps = totalSteps }
            if let totalEpochs = registration.totalEpochs { job.totalEpochs = totalEpochs }
        }
        guard let token = updated.jobToken else { throw APIError.notFound }
        return (updated, token)
    }
}
