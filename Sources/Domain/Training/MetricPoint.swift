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
    public var evalPerplexity: Double?

    public init(
        step: Int64, epoch: Double? = nil, trainLoss: Double? = nil, evalLoss: Double? = nil, learningRate: Double? = nil,
        gradNorm: Double? = nil, gpuMemoryAllocatedGB: Double? = nil, gpuUtilizationPercent: Double? = nil,
        samplesPerSecond: Double? = nil, tokensPerSecond: Double? = nil, timestamp: Timestamp? = nil, gpuMemoryReservedGB: Double? = nil,
        perplexity: Double? = nil, trainPerplexity: Double? = nil, evalPerplexity: Double? = nil
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
        self.evalPerplexity = evalPerplexity
    }
}

extension MetricPoint {
    /// The optional numbers a point carries, in the order the contract lists them, FineTune Lab's last. A
    /// measure's `name` is both its JSON field and its `training_metrics` column.
    public enum Measure: CaseIterable, Sendable {
        case epoch, trainLoss, evalLoss, learningRate, gradNorm, gpuMemoryAllocatedGB, gpuUtilizationPercent, samplesPerSecond
        case tokensPerSecond, gpuMemoryReservedGB, perplexity, trainPerplexity, evalPerplexity

        /// Every measure, made once (`allCases` makes its array on each call).
        public static let all: [Measure] = allCases
        /// The contract's measures; the others are FineTune Lab's.
        public static let contract: [Measure] = all.filter { ![.gpuMemoryReservedGB, .perplexity, .trainPerplexity, .evalPerplexity].contains($0) }

        public var name: String {
            switch self {
            case .epoch: "epoch"
            case .trainLoss: "train_loss"
            case .evalLoss: "eval_loss"
            case .learningRate: "learning_rate"
            case .gradNorm: "grad_norm"
            case .gpuMemoryAllocatedGB: "gpu_memory_allocated_gb"
            case .gpuUtilizationPercent: "gpu_utilization_percent"
            case .samplesPerSecond: "samples_per_second"
            case .tokensPerSecond: "tokens_per_second"
            case .gpuMemoryReservedGB: "gpu_memory_reserved_gb"
            case .perplexity: "perplexity"
            case .trainPerplexity: "train_perplexity"
            case .evalPerplexity: "eval_perplexity"
            }
        }
    }

    /// The point's value of `measure` (a switch, not a key path: no runtime lookup per value).
    public subscript(measure: Measure) -> Double? {
        get {
            switch measure {
            case .epoch: epoch
            case .trainLoss: trainLoss
            case .evalLoss: evalLoss
            case .learningRate: learningRate
            case .gradNorm: gradNorm
            case .gpuMemoryAllocatedGB: gpuMemoryAllocatedGB
            case .gpuUtilizationPercent: gpuUtilizationPercent
            case .samplesPerSecond: samplesPerSecond
            case .tokensPerSecond: tokensPerSecond
            case .gpuMemoryReservedGB: gpuMemoryReservedGB
            case .perplexity: perplexity
            case .trainPerplexity: trainPerplexity
            case .evalPerplexity: evalPerplexity
            }
        }
        set {
            switch measure {
            case .epoch: epoch = newValue
            case .trainLoss: trainLoss = newValue
            case .evalLoss: evalLoss = newValue
            case .learningRate: learningRate = newValue
            case .gradNorm: gradNorm = newValue
            case .gpuMemoryAllocatedGB: gpuMemoryAllocatedGB = newValue
            case .gpuUtilizationPercent: gpuUtilizationPercent = newValue
            case .samplesPerSecond: samplesPerSecond = newValue
            case .tokensPerSecond: tokensPerSecond = newValue
            case .gpuMemoryReservedGB: gpuMemoryReservedGB = newValue
            case .perplexity: perplexity = newValue
            case .trainPerplexity: trainPerplexity = newValue
            case .evalPerplexity: evalPerplexity = newValue
            }
        }
    }
}
