import Domain
import Testing

/// The rules behind a job's figures: status counts, metric points and their measures, the summary a job's row keeps,
/// the sums that never trap, and the fields no change may alter.
@Suite("Training figures")
struct TrainingFiguresTests {
    @Test func statusCountsKeepEachStatusApartAndSumThem() {
        var counts = JobStatusCounts([.running: 2, .failed: 1])
        #expect(counts[.running] == 2 && counts[.failed] == 1 && counts[.pending] == 0)
        #expect(counts.total == 3)
        counts[.cancelled] = 4
        counts[.running] -= 1
        #expect(counts.total == 6)
        #expect(counts == JobStatusCounts([.cancelled: 4, .running: 1, .failed: 1]))
        #expect(counts != JobStatusCounts([.cancelled: 4, .running: 1, .completed: 1]))
        #expect(JobStatusCounts() == JobStatusCounts([.pending: 0]))
        for status in JobStatus.allCases {
            #expect(JobStatusCounts([status: 5])[status] == 5)
            #expect(JobStatusCounts([status: 5]).total == 5)
        }
    }

    @Test func eachMeasureReadsAndWritesItsOwnField() {
        for (index, measure) in MetricPoint.Measure.all.enumerated() {
            var point = MetricPoint(step: 1)
            point[measure] = Double(index) + 0.5
            #expect(point[measure] == Double(index) + 0.5, "\(measure)")
            #expect(MetricPoint.Measure.all.filter { point[$0] != nil } == [measure], "\(measure) wrote another field")
        }
        let point = MetricPoint(step: 3, epoch: 1, trainLoss: 2, evalLoss: 3, learningRate: 4, gradNorm: 5, gpuMemoryReservedGB: 6)
        #expect(point[.epoch] == 1 && point[.trainLoss] == 2 && point[.evalLoss] == 3 && point[.learningRate] == 4)
        #expect(point[.gradNorm] == 5 && point[.gpuMemoryReservedGB] == 6 && point[.tokensPerSecond] == nil)
    }

    @Test func measureNamesAreTheContractsFieldsAndFineTuneLabsLast() {
        let names = MetricPoint.Measure.all.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(
            MetricPoint.Measure.contract.map(\.name) == [
                "epoch", "train_loss", "eval_loss", "learning_rate", "grad_norm", "gpu_memory_allocated_gb", "gpu_utilization_percent",
                "samples_per_second", "tokens_per_second",
            ])
        #expect(names.suffix(4) == ["gpu_memory_reserved_gb", "perplexity", "train_perplexity", "eval_perplexity"])
    }

    @Test func pointsOnlyFollowWhenTheirStepsRisePastTheLastOne() {
        let points = [5, 7, 9].map { MetricPoint(step: $0) }
        #expect(MetricPoint.onlyFollow(nil, points))
        #expect(MetricPoint.onlyFollow(4, points))
        #expect(!MetricPoint.onlyFollow(5, points), "replaces the stored step 5")
        #expect(!MetricPoint.onlyFollow(nil, [7, 5].map { MetricPoint(step: $0) }))
        #expect(!MetricPoint.onlyFollow(nil, [7, 7].map { MetricPoint(step: $0) }))
        #expect(MetricPoint.onlyFollow(100, []))
    }

    @Test func theLowestEvalLossIsTheLowestOfTheBestAndTheNewPoints() {
        let points = [MetricPoint(step: 1, evalLoss: 0.8), MetricPoint(step: 2), MetricPoint(step: 3, evalLoss: 0.6)]
        #expect(MetricPoint.lowestEvalLoss(points, below: nil) == 0.6)
        #expect(MetricPoint.lowestEvalLoss(points, below: 0.5) == 0.5)
        #expect(MetricPoint.lowestEvalLoss([MetricPoint(step: 1)], below: nil) == nil)
        #expect(MetricPoint.lowestEvalLoss([], below: 0.7) == 0.7)
    }

    @Test func aBatchsSummaryCountsItsPointsAndTheSpeedsItReports() {
        let summary = MetricSummary(batch: [
            MetricPoint(step: 1, samplesPerSecond: 10), MetricPoint(step: 2), MetricPoint(step: 3, samplesPerSecond: 2.5),
        ])
        #expect(summary.points == 3 && summary.samplesPerSecondSum == 12.5 && summary.samplesPerSecondCount == 2)
        let empty = MetricSummary(batch: [])
        #expect(empty.points == 0 && empty.samplesPerSecondSum == 0 && empty.samplesPerSecondCount == 0)
    }

    @Test func sumsOfStoredCountersSaturateInsteadOfTrapping() {
        #expect(Int64(40).addingSaturated(2) == 42)
        #expect(Int64.max.addingSaturated(1) == .max)
        #expect((Int64.max - 1).addingSaturated(Int64.max) == .max)
        #expect(Int64.min.addingSaturated(-1) == .min)
        #expect(Int64.max.addingSaturated(-1) == .max - 1)
    }

    @Test func aChangeNeverAltersTheFixedFields() {
        let job = TrainingJob(
            id: "job", userID: "alice", modelName: "m", resumedFromJobID: "older", jobTokenHash: "hash",
            createdAt: Timestamp(millisecondsSinceEpoch: 1_000), externalID: "mine", jobToken: "token")
        let changed = job.changed { job in
            job.id = "other"
            job.userID = "mallory"
            job.resumedFromJobID = nil
            job.jobTokenHash = "forged"
            job.createdAt = Timestamp(millisecondsSinceEpoch: 0)
            job.externalID = "theirs"
            job.jobToken = "stolen"
            job.modelName = "m2"
            job.progress = 50
        }
        #expect(changed.id == "job" && changed.userID == "alice" && changed.resumedFromJobID == "older")
        #expect(changed.jobTokenHash == "hash" && changed.createdAt == Timestamp(millisecondsSinceEpoch: 1_000))
        #expect(changed.externalID == "mine" && changed.jobToken == "token")
        // What a change may alter, it does.
        #expect(changed.modelName == "m2" && changed.progress == 50)
    }
}
