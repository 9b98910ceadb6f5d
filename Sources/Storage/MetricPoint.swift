/// One reported training step of a job. Stored once per (job, step): a
/// resent step replaces the earlier point.
public struct MetricPoint: Sendable, Equatable {
    public var step: Int64
    public var epoch: Double?
    public var trainLoss: Double?
    public var evalLoss: Double?
    public var learningRate: Double?
    public var gradNorm: Double?
    public var gpuMemoryAllocatedGB: Double?
    public var gpuUtilizationPercent: Double?
    public var samplesPerSecond: Double?
    public var tokensPerSecond: Double?
    /// When the trainer measured it, if it said.
    public var timestamp: Timestamp?
    public var gpuMemoryReservedGB: Double?
    /// Perplexities as the trainer reported them (FineTune Lab's points carry them).
    public var perplexity: Double?
    public var trainPerplexity: Double?

    public init(
        step: Int64, epoch: Double? = nil, trainLoss: Double? = nil, evalLoss: Double? = nil, learningRate: Double? = nil,
        gradNorm: Double? = nil, gpuMemoryAllocatedGB: Double? = nil, gpuUtilizationPercent: Double? = nil,
        samplesPerSecond: Double? = nil, tokensPerSecond: Double? = nil, timestamp: Timestamp? = nil, gpuMemoryReservedGB: Double? = nil,
        perplexity: Double? = nil, trainPerplexity: Double? = nil
    ) {
        self.step = step
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.evalLoss = evalLoss
        self.learningRate = learningRate
        self.gradNorm = gradNorm
        self.gpuMemoryAllocatedGB = gpuMemoryAllocatedGB
        self.gpuUtilizationPercent = gpuUtilizationPercent
        self.samplesPerSecond = samplesPerSecond
        self.tokensPerSecond = tokensPerSecond
        self.timestamp = timestamp
        self.gpuMemoryReservedGB = gpuMemoryReservedGB
        self.perplexity = perplexity
        self.trainPerplexity = trainPerplexity
    }
}
