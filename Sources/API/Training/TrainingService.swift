import Domain

/// The training operations that the contract's routes and FineTune Lab's both perform, on the job store:
/// finding a caller's job, changing its status and progress, and storing its metric points.
struct TrainingService {
    let jobs: any TrainingJobStore

    /// The user's job `id`; a 404 when the user has none.
    func job(id: String, userID: String) throws -> TrainingJob {
        guard let job = try jobs.find(id: id, userID: userID) else { throw APIError.notFound }
        return job
    }

    /// Changes the user's job `id` in one transaction: moves it to `status` when that is another status (the
    /// state machine decides: an illegal move is a 409), lets `change` set the rest and stamps `updated_at`.
    /// A 404 when the user has no such job. With `tokenHash` (a trainer's write), a 409 when the job's token is no longer that one.
    func update(
        id: String, userID: String, status: JobStatus?, tokenHash: String? = nil, _ change: (inout TrainingJob) -> Void = { _ in }
    ) throws -> TrainingJob {
        let updated = try jobs.update(id: id, userID: userID) { job in
            try Self.check(job, heldWith: tokenHash)
            let now = Timestamp.now()
            if let status, status != job.status { try job.transition(to: status, at: now) }
            change(&job)
            job.updatedAt = now
        }
        guard let updated else { throw APIError.notFound }
        return updated
    }

    /// Stores `points` for the user's job `jobID` in one transaction and moves the job along: a
    /// pending job starts running, and its current step and losses follow the newest points.
    /// A 404 when the user has no such job; a terminal job is a 409 and stores nothing. With
    /// `followsEpoch` (FineTune Lab's trainers, which report no epoch or progress otherwise) the
    /// job's current epoch and its progress (current / total steps) follow the newest point too. With `tokenHash`
    /// (a trainer's write), a 409 when the job's token is no longer that one.
    @discardableResult
    func ingest(
        _ points: [MetricPoint], jobID: String, userID: String, tokenHash: String? = nil, followsEpoch: Bool = false
    ) throws -> TrainingJob {
        let now = Timestamp.now()
        let updated = try jobs.appendMetrics(id: jobID, userID: userID, points: points) { job, best in
            try Self.check(job, heldWith: tokenHash)
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
                    if let epoch = newest.epoch, epoch >= 0, epoch < Double(TrainingEpoch.maximum) { job.currentEpoch = Int64(epoch.rounded(.down)) }
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
        guard let updated else { throw APIError.notFound }
        return updated
    }

    /// Refuses a trainer's write whose token the job no longer has (a claim or a lost agent replaced it since the
    /// request was authenticated): read in the write's own transaction, so no such write lands. The log and prediction
    /// stores throw the same error, which the responder answers 409 `JOB_REASSIGNED`.
    private static func check(_ job: TrainingJob, heldWith tokenHash: String?) throws(JobReassignedError) {
        if let tokenHash, job.jobTokenHash != tokenHash { throw JobReassignedError() }
    }
}
