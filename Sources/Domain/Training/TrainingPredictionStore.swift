/// A page of a job's predictions.
public struct PredictionPage: Sendable, Equatable {
    /// By epoch, then sample index, then step.
    public var predictions: [TrainingPrediction]
    /// All of the job's predictions (whatever the epoch filter).
    public var totalCount: Int
    /// How many distinct epochs the job's predictions cover.
    public var epochCount: Int

    public init(predictions: [TrainingPrediction], totalCount: Int, epochCount: Int) {
        self.predictions = predictions
        self.totalCount = totalCount
        self.epochCount = epochCount
    }
}

/// Model outputs recorded during training, and their per-epoch summaries.
public protocol TrainingPredictionStore: Sendable {
    /// Stores `predictions` in one transaction. A record whose (job, epoch, step, sample index)
    /// is stored already replaces that row's fields and keeps its id and creation time, so a
    /// re-sent batch changes nothing. With `tokenHash` (a trainer's write), the records' job is locked first and
    /// `JobReassignedError` thrown, storing nothing, when its token is no longer that one.
    func upsert(_ predictions: [TrainingPrediction], heldWith tokenHash: String?) throws
    /// The job's predictions of `epoch` (all epochs when nil), paged, with the job's totals, read from one snapshot.
    func list(jobID: String, epoch: Int64?, limit: Int, offset: Int) throws -> PredictionPage
    /// One summary per epoch of the job's predictions, by epoch.
    func epochs(jobID: String) throws -> [PredictionEpochSummary]
}

extension TrainingPredictionStore {
    /// `upsert` by no trainer's token.
    public func upsert(_ predictions: [TrainingPrediction]) throws {
        try upsert(predictions, heldWith: nil)
    }
}
