/// One epoch of a job's predictions: how many, the latest step, and the quality figures
/// averaged over the records that have them (nil when none has).
public struct PredictionEpochSummary: Sendable, Equatable {
    public var epoch: Int64
    public var latestStep: Int64
    public var count: Int
    public var averageExactMatch: Double?
    public var averageCharErrorRate: Double?
    public var averageLengthRatio: Double?
    public var averageWordOverlap: Double?
    public var minimumCharErrorRate: Double?
    public var maximumCharErrorRate: Double?
    /// The share of records with `validation_pass` true among those that have one.
    public var validationPassRate: Double?

    public init(
        epoch: Int64, latestStep: Int64, count: Int, averageExactMatch: Double? = nil, averageCharErrorRate: Double? = nil,
        averageLengthRatio: Double? = nil, averageWordOverlap: Double? = nil, minimumCharErrorRate: Double? = nil,
        maximumCharErrorRate: Double? = nil, validationPassRate: Double? = nil
    ) {
        self.epoch = epoch
        self.latestStep = latestStep
        self.count = count
        self.averageExactMatch = averageExactMatch
        self.averageCharErrorRate = averageCharErrorRate
        self.averageLengthRatio = averageLengthRatio
        self.averageWordOverlap = averageWordOverlap
        self.minimumCharErrorRate = minimumCharErrorRate
        self.maximumCharErrorRate = maximumCharErrorRate
        self.validationPassRate = validationPassRate
    }
}
