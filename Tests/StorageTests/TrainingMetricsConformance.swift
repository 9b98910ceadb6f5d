import Domain
import Testing

/// `TrainingJobStore`'s metrics (`appendMetrics`, `metrics`, `aggregate`) as every backend implements them.
@Suite("TrainingJobStore metrics conformance")
struct TrainingMetricsConformance {
    /// What the metrics endpoint's `change` does with a batch: the newest losses and the best eval loss onto the job.
    static func report(_ points: [MetricPoint], at time: Timestamp) -> (inout TrainingJob, Double?) throws -> Void {
        { job, best in
            if job.status == .pending { job.status = .running }
            if let newest = points.max(by: { $0.step < $1.step }), newest.step >= job.currentStep {
                job.currentStep = newest.step
                job.trainLoss = newest.trainLoss ?? job.trainLoss
                job.evalLoss = newest.evalLoss ?? job.evalLoss
            }
            job.bestEvalLoss = best
            job.updatedAt = time
        }
    }

    static func point(_ step: Int64, train: Double? = nil, eval: Double? = nil, samples: Double? = nil) -> MetricPoint {
        MetricPoint(step: step, trainLoss: train, evalLoss: eval, samplesPerSecond: samples)
    }

    @Test(arguments: StoreBackend.all)
    func pointsAreStoredWholeInStepOrder(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let running = job(userID: "alice", status: .running)
            try store.trainingJobs.insert([running])
            let full = MetricPoint(
                step: 20, epoch: 0.5, trainLoss: 1.5, evalLoss: 1.75, learningRate: 0.0002, gradNorm: 0.875, gpuMemoryAllocatedGB: 21.5,
                gpuUtilizationPercent: 97.5, samplesPerSecond: 12.25, tokensPerSecond: 3100.5, timestamp: instant(20)
            )
            let points = [Self.point(30, train: 1.25), full, Self.point(10, train: 2)]
            let updated = try store.trainingJobs.appendMetrics(id: running.id, userID: "alice", points: points, Self.report(points, at: instant(40)))
            #expect(updated?.currentStep == 30 && updated?.trainLoss == 1.25 && updated?.evalLoss == nil)
            #expect(updated?.bestEvalLoss == 1.75 && updated?.updatedAt == instant(40))
            #expect(try store.trainingJobs.find(id: running.id, userID: "alice") == updated)

            let stored = try store.trainingJobs.metrics(jobID: running.id, sinceStep: nil, limit: 10, offset: 0)
            #expect(stored.points == [Self.point(10, train: 2), full, Self.point(30, train: 1.25)])
            #expect(stored.total == 3)
        }
    }

    @Test(arguments: StoreBackend.all)
    func resentStepReplacesItsPoint(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let running = job(userID: "alice", status: .running)
            try store.trainingJobs.insert([running])
            _ = try store.trainingJobs.appendMetrics(
                id: running.id, userID: "alice", points: [Self.point(1, eval: 0.5), Self.point(2, eval: 0.75)]
            ) { _, best in #expect(best == 0.5) }
            // Step 1 comes again with a worse loss: the lowest stored eval loss is now step 2's.
            var seen: Double?
            _ = try store.trainingJobs.appendMetrics(id: running.id, userID: "alice", points: [Self.point(1, train: 3, eval: 0.9)]) { _, best in
                seen = best
            }
            #expect(seen == 0.75)
            let stored = try store.trainingJobs.metrics(jobID: running.id, sinceStep: nil, limit: 10, offset: 0)
            #expect(stored.points == [Self.point(1, train: 3, eval: 0.9), Self.point(2, eval: 0.75)])
            #expect(stored.total == 2)
        }
    }

    @Test(arguments: StoreBackend.all)
    func resentBatchChangesNothing(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let running = job(userID: "alice", status: .running)
            try store.trainingJobs.insert([running])
            let batch = (1...5).map { Self.point($0, train: 2 - Double($0) / 10, eval: 2.5 - Double($0) / 10, samples: Double($0)) }
            let first = try store.trainingJobs.appendMetrics(id: running.id, userID: "alice", points: batch, Self.report(batch, at: instant(10)))
            let points = try store.trainingJobs.metrics(jobID: running.id, sinceStep: nil, limit: 10, offset: 0)
            let summary = try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: false)
            let dashboard = try store.analytics.dashboard(userID: "alice", from: instant(), days: 1, failureLimit: 10)

            let again = try store.trainingJobs.appendMetrics(id: running.id, userID: "alice", points: batch, Self.report(batch, at: instant(10)))
            #expect(again == first)
            #expect(try store.trainingJobs.metrics(jobID: running.id, sinceStep: nil, limit: 10, offset: 0) == points)
            #expect(points.total == 5)
            #expect(try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: false) == summary)
            #expect(summary.first?.averageSamplesPerSecond == 3)
            #expect(try store.analytics.dashboard(userID: "alice", from: instant(), days: 1, failureLimit: 10) == dashboard)
            #expect(dashboard.metricsPoints == 5)
        }
    }

    /// Batches past the last step are added to the job's summary, others make a pass over all its points:
    /// either way the summary is what the stored points give.
    @Test(arguments: StoreBackend.all)
    func summaryFollowsAppendedAndReplacedPoints(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let running = job(userID: "alice", status: .running)
            try store.trainingJobs.insert([running])
            func send(_ points: [MetricPoint]) throws -> (best: Double?, points: Int64, speed: Double?) {
                let job = try #require(
                    try store.trainingJobs.appendMetrics(id: running.id, userID: "alice", points: points, Self.report(points, at: instant(10))))
                let summary = try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: false).first
                let dashboard = try store.analytics.dashboard(userID: "alice", from: instant(), days: 1, failureLimit: 1)
                return (job.bestEvalLoss, dashboard.metricsPoints, summary?.averageSamplesPerSecond)
            }
            let first = try send([Self.point(1, eval: 0.875, samples: 10), Self.point(2, eval: 0.75), Self.point(3, eval: 0.8125, samples: 20)])
            #expect(first.best == 0.75 && first.points == 3 && first.speed == 15)
            let appended = try send([Self.point(4, eval: 0.625, samples: 30), Self.point(5, samples: 40)])
            #expect(appended.best == 0.625 && appended.points == 5 && appended.speed == 25)
            // Step 4 again, worse: its old loss and speed leave the summary.
            let replaced = try send([Self.point(4, eval: 0.9375, samples: 50)])
            #expect(replaced.best == 0.75 && replaced.points == 5 && replaced.speed == 30)
            let more = try send([Self.point(6, eval: 0.5, samples: 60), Self.point(7)])
            #expect(more.best == 0.5 && more.points == 7 && more.speed == 36)
            // A step twice in one batch: its last point is kept.
            let twice = try send([Self.point(8, eval: 0.25, samples: 100), Self.point(8, eval: 0.375, samples: 60)])
            #expect(twice.best == 0.375 && twice.points == 8 && twice.speed == 40)
        }
    }

    @Test(arguments: StoreBackend.all)
    func changeThatThrowsStoresNoPoints(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let done = job(userID: "alice", status: .completed)
            try store.trainingJobs.insert([done])
            #expect(throws: UnexpectedStatus(status: .completed)) {
                _ = try store.trainingJobs.appendMetrics(id: done.id, userID: "alice", points: [Self.point(1, eval: 1)]) { job, _ in
                    job.currentStep = 1
                    throw UnexpectedStatus(status: job.status)
                }
            }
            #expect(try store.trainingJobs.metrics(jobID: done.id, sinceStep: nil, limit: 10, offset: 0).total == 0)
            #expect(try store.trainingJobs.find(id: done.id, userID: "alice") == done)
            #expect(try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: false).first?.jobsWithMetrics == 0)
        }
    }

    @Test(arguments: StoreBackend.all)
    func pointsForAnotherUsersOrUnknownJobAreRefused(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let running = job(userID: "alice", status: .running)
            try store.trainingJobs.insert([running])
            var calls = 0
            #expect(try store.trainingJobs.appendMetrics(id: running.id, userID: "mallory", points: [Self.point(1)]) { _, _ in calls += 1 } == nil)
            #expect(try store.trainingJobs.appendMetrics(id: uuid(), userID: "alice", points: [Self.point(1)]) { _, _ in calls += 1 } == nil)
            #expect(calls == 0)
            #expect(try store.trainingJobs.metrics(jobID: running.id, sinceStep: nil, limit: 10, offset: 0).total == 0)
        }
    }

    @Test(arguments: StoreBackend.all)
    func metricsPageAfterAStep(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let running = job(userID: "alice", status: .running)
            let other = job(userID: "alice", status: .running)
            try store.trainingJobs.insert([running, other])
            _ = try store.trainingJobs.appendMetrics(id: running.id, userID: "alice", points: (0..<10).map { Self.point($0 * 10) }) { _, _ in }
            _ = try store.trainingJobs.appendMetrics(id: other.id, userID: "alice", points: [Self.point(55)]) { _, _ in }

            let page = try store.trainingJobs.metrics(jobID: running.id, sinceStep: 30, limit: 3, offset: 1)
            #expect(page.points.map(\.step) == [50, 60, 70])
            #expect(page.total == 6)
            let first = try store.trainingJobs.metrics(jobID: running.id, sinceStep: nil, limit: 2, offset: 0)
            #expect(first.points.map(\.step) == [0, 10] && first.total == 10)
            let beyond = try store.trainingJobs.metrics(jobID: running.id, sinceStep: 90, limit: 10, offset: 0)
            #expect(beyond.points.isEmpty && beyond.total == 0)
            #expect(try store.trainingJobs.metrics(jobID: uuid(), sinceStep: nil, limit: 10, offset: 0).total == 0)
        }
    }

    @Test(arguments: StoreBackend.all)
    func aggregateOverTheWholeSetAndPerModel(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let a1 = job(userID: "alice", status: .running, model: "a", createdAt: instant(10))
            let a2 = job(userID: "alice", status: .running, model: "a", createdAt: instant(20))
            let b1 = job(userID: "alice", status: .running, model: "b", createdAt: instant(30))
            let quiet = job(userID: "alice", status: .pending, model: "c", createdAt: instant(40))
            let bobs = job(userID: "bob", status: .running, model: "a", createdAt: instant(10))
            try store.trainingJobs.insert([a1, a2, b1, quiet, bobs])
            func send(_ job: TrainingJob, _ points: [MetricPoint]) throws {
                _ = try store.trainingJobs.appendMetrics(id: job.id, userID: job.userID, points: points, Self.report(points, at: instant(50)))
            }
            try send(a1, [Self.point(10, train: 2, eval: 0.9, samples: 10), Self.point(20, train: 1, eval: 0.7, samples: 20)])
            try send(a2, [Self.point(5, train: 3, eval: 0.6, samples: 30), Self.point(15, train: 2.5, eval: 0.8)])
            try send(b1, [Self.point(100, train: 4, samples: 60)])
            try send(bobs, [Self.point(7, train: 0.1, eval: 0.1, samples: 1000)])

            let whole = try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: false)
            #expect(
                whole.map(\.withoutBest) == [
                    MetricsAggregate(
                        modelName: nil, jobs: 4, jobsWithMetrics: 3, totalSteps: 135, bestEvalLoss: nil, averageFinalTrainLoss: (1 + 2.5 + 4) / 3,
                        averageFinalEvalLoss: (0.7 + 0.8) / 2, averageSamplesPerSecond: 30
                    )
                ])
            #expect(whole.first?.best == BestEvalLoss(value: 0.6, jobID: a2.id, step: 5))

            let groups = try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: true)
            #expect(groups.map(\.modelName) == ["a", "b", "c"])
            #expect(groups.map(\.jobs) == [2, 1, 1])
            #expect(groups[0].best == BestEvalLoss(value: 0.6, jobID: a2.id, step: 5))
            #expect(groups[0].averageSamplesPerSecond == 20)
            #expect(groups[1].bestEvalLoss == nil && groups[1].totalSteps == 100 && groups[1].averageFinalTrainLoss == 4)
            #expect(
                groups[2]
                    == MetricsAggregate(
                        modelName: "c", jobs: 1, jobsWithMetrics: 0, totalSteps: 0, bestEvalLoss: nil, averageFinalTrainLoss: nil,
                        averageFinalEvalLoss: nil, averageSamplesPerSecond: nil
                    ))

            // [from, to) on created_at, and one model.
            let window = try store.trainingJobs.aggregate(
                userID: "alice", filter: AggregateFilter(from: instant(20), to: instant(40)), byModel: false
            )
            #expect(window.first?.jobs == 2 && window.first?.totalSteps == 115)
            let modelA = try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(modelName: "a"), byModel: true)
            #expect(modelA.map(\.modelName) == ["a"])
        }
    }

    @Test(arguments: StoreBackend.all)
    func aggregateOfNoJobs(_ backend: StoreBackend) throws {
        try backend.withStore { store throws in
            #expect(
                try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: false) == [
                    MetricsAggregate(
                        modelName: nil, jobs: 0, jobsWithMetrics: 0, totalSteps: 0, bestEvalLoss: nil, averageFinalTrainLoss: nil,
                        averageFinalEvalLoss: nil, averageSamplesPerSecond: nil
                    )
                ])
            #expect(try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: true).isEmpty)
        }
    }
}
