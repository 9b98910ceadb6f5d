/// One model output a trainer recorded for a sample during training. Stored once per
/// (job, epoch, step, sample index): a re-sent record replaces the fields of the stored one
/// and keeps its id and creation time.
public struct TrainingPrediction: Sendable, Equatable {
    public var id: String
    public var jobID: String
    public var epoch: Int64
    public var step: Int64
    public var sampleIndex: Int64
    public var prompt: String
    public var prediction: String
    public var groundTruth: String?
    public var exactMatch: Double?
    public var charErrorRate: Double?
    public var lengthRatio: Double?
    public var wordOverlap: Double?
    public var promptTokens: Int64?
    public var completionTokens: Int64?
    public var totalTokens: Int64?
    public var latencyMS: Double?
    public var validationPass: Bool?
    public var validationKind: String?
    /// Any JSON value, as its text.
    public var validationErrorsJSON: String?
    public var createdAt: Timestamp

    public init(
        id: String, jobID: String, epoch: Int64, step: Int64, sampleIndex: Int64, prompt: String, prediction: String,
        groundTruth: String? = nil, exactMatch: Double? = nil, charErrorRate: Double? = nil, lengthRatio: Double? = nil,
        wordOverlap: Double? = nil, promptTokens: Int64? = nil, completionTokens: Int64? = nil, totalTokens: Int64? = nil,
        latencyMS: Double? = nil, validationPass: Bool? = nil, validationKind: String? = nil, validationErrorsJSON: String? = nil,
        createdAt: Timestamp
    ) {
        self.id = id
        self.jobID = jobID
        self.epoch = epoch
        self.step = step
        self.sampleIndex = sampleIndex
        self.prompt = prompt
        self.prediction = prediction
        self.groundTruth = groundTruth
        self.exactMatch = exactMatch
        self.charErrorRate = charErrorRate
        self.lengthRatio = lengthRatio
        self.wordOverlap = wordOverlap
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens
        self.latencyMS = latencyMS
        self.validationPass = validationPass
        self.validationKind = validationKind
        self.validationErrorsJSON = validationErrorsJSON
        self.createdAt = createdAt
    }
}
