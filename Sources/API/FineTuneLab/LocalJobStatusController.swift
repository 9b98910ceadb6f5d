import Domain
import HTTPCore
import JSON

/// FineTune Lab's job status routes: the trainer's status reports and the SDK's status reads, on
/// the contract's jobs and state machine.
struct LocalJobStatusController {
    let training: TrainingService
    let jobs: NamedJob

    func register(on router: inout Router) {
        router.patch("/api/training/local/{job:string}/status", auth: .namedJobTrainer, operation: .updateLocalJobStatus, use: update)
        router.get("/api/training/local/{job:string}/status", auth: .scope(.training), operation: .showLocalJobStatus, use: show)
    }

    func update(_ context: RequestContext) throws -> Response {
        let caller = try context.user
        let body = try context.jsonObject()
        try NamedJob.refuseForeignUser(in: body, caller: caller)
        let fields = FieldReader(body)
        guard let name = try fields.string("status", required: true, length: 1...32), let status = JobStatus(rawValue: name), status != .pending
        else {
            throw APIError.badRequest("status must be one of running, completed, failed, cancelled, paused")
        }
        let error = try fields.string("error", required: false, length: 0...10_000)
        let job = try jobs.find(context.parameter("job"), for: caller)
        let updated = try training.update(id: job.id, userID: job.userID, status: status, tokenHash: caller.jobTokenHash) { job in
            if let error { job.errorMessage = error }
        }
        return .json(
            .object([
                "success": .bool(true), "job_id": .string(NamedJob.publicName(of: updated)), "status": .string(updated.status.rawValue),
                "updated_at": .string(updated.updatedAt.iso8601),
            ]))
    }

    func show(_ context: RequestContext) throws -> Response {
        let job = try jobs.find(context.parameter("job"), for: context.user)
        // The learning rate is the newest point's, which is the point at the job's current step.
        let newest = try training.jobs.metrics(jobID: job.id, sinceStep: job.currentStep - 1, limit: 1, offset: 0).points.first
        let learningRate = newest?.step == job.currentStep ? newest?.learningRate : nil
        return .json(
            .object([
                "job_id": .string(NamedJob.publicName(of: job)), "id": .string(job.id), "status": .string(job.status.rawValue),
                "model_name": .string(job.modelName), "dataset_path": .string(job.datasetPath), "current_step": .int(job.currentStep),
                "current_epoch": .int(job.currentEpoch), "total_steps": .int(job.totalSteps), "total_epochs": .int(job.totalEpochs),
                "progress": .double(job.progress), "loss": .double(job.trainLoss), "eval_loss": .double(job.evalLoss),
                "best_eval_loss": .double(job.bestEvalLoss), "learning_rate": .double(learningRate),
                "started_at": .string(job.startedAt?.iso8601), "completed_at": .string(job.completedAt?.iso8601),
                "error": .string(job.errorMessage), "created_at": .string(job.createdAt.iso8601), "updated_at": .string(job.updatedAt.iso8601),
            ]))
    }
}
