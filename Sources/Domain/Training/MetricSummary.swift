/// The figures of a job's metric points that its row keeps, so that aggregates read job rows, never every point.
package struct MetricSummary {
    package var points: Int64
    package var samplesPerSecondSum: Double
    package var samplesPerSecondCount: Int64

    package init(points: Int64, samplesPerSecondSum: Double, samplesPerSecondCount: Int64) {
        self.points = points
        self.samplesPerSecondSum = samplesPerSecondSum
        self.samplesPerSecondCount = samplesPerSecondCount
    }

    /// What `batch` adds to its job's summary, when it replaces no stored point (`MetricPoint.onlyFollow`).
    package init(batch: [MetricPoint]) {
        let speeds = batch.compactMap(\.samplesPerSecond)
        self.init(points: Int64(batch.count), samplesPerSecondSum: speeds.reduce(0, +), samplesPerSecondCount: Int64(speeds.count))
    }
}

/// How saving a job changes its summary, in the same UPDATE as the job's other columns.
package enum MetricSummaryChange {
    /// To the figures of a pass over all of the job's points.
    case set(MetricSummary)
    /// By the figures of a batch that replaced no point.
    case add(MetricSummary)
}

extension MetricPoint {
    /// Whether `points` come in increasing step order, all past `lastStep` (nil: the job has none): storing
    /// them then replaces no stored point, so a job's summary only grows by them.
    package static func onlyFollow(_ lastStep: Int64?, _ points: [MetricPoint]) -> Bool {
        var previous = lastStep
        for point in points {
            if let previous, point.step <= previous { return false }
            previous = point.step
        }
        return true
    }

    /// The lowest of `best` (a job's lowest eval loss so far) and the eval losses of `points`.
    package static func lowestEvalLoss(_ points: [MetricPoint], below best: Double?) -> Double? {
        ([best] + points.map(\.evalLoss)).compactMap { $0 }.min()
    }
}
