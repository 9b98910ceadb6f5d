import Domain
import Testing

/// `AnalyticsStore` as every backend implements it.
@Suite("AnalyticsStore conformance")
struct AnalyticsStoreConformance {
    static let day = 86_400.0

    /// A job created `day` days (plus `offset` seconds) after `instant()`.
    static func job(
        _ status: JobStatus, day: Int, offset: Double = 0, steps: Int64 = 0, ran: (start: Double, end: Double)? = nil,
        completed: Double? = nil, userID: String = "alice"
    ) -> TrainingJob {
        let created = instant(Double(day) * Self.day + offset)
        var record = StorageTests.job(userID: userID, status: status, createdAt: created)
        record.currentStep = steps
        record.startedAt = ran.map { created.adding(seconds: $0.start) }
        record.completedAt = (ran?.end ?? completed).map { created.adding(seconds: $0) }
        if status == .failed { record.errorMessage = "CUDA out of memory" }
        return record
    }

    @Test(arguments: StoreBackend.all)
    func figuresOverARangeOfDays(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let lateFailure = Self.job(.failed, day: 1, offset: 10, completed: 30)
            let earlyFailure = Self.job(.failed, day: 0, offset: 10, completed: 500)
            let running = Self.job(.running, day: 1, steps: 50)
            try store.trainingJobs.insert([
                Self.job(.completed, day: 0, steps: 100, ran: (100, 160)), Self.job(.completed, day: 0, steps: 200, ran: (0, 120)),
                earlyFailure, Self.job(.pending, day: 0, offset: 86_399), running, lateFailure,
                Self.job(.completed, day: 1, steps: 7, completed: 10), Self.job(.cancelled, day: 2),
                // Outside the range or another user's.
                Self.job(.completed, day: 3, steps: 1000, ran: (0, 1)), Self.job(.failed, day: -1, completed: 10),
                Self.job(.running, day: 1, steps: 1000, userID: "bob"),
            ])
            _ = try store.trainingJobs.appendMetrics(
                id: running.id, userID: "alice", points: (1...4).map { MetricPoint(step: $0) }
            ) { job, _ in job.currentStep = 50 }
            for (format, day, examples, userID) in [
                ("chatml", 0, 10, "alice"), ("chatml", 1, 5, "alice"), ("alpaca", 2, 7, "alice"), ("chatml", 3, 100, "alice"),
                ("text", 1, 100, "bob"),
            ] {
                let created = instant(Double(day) * Self.day)
                try store.datasets.insert(dataset(userID: userID, format: format, examples: Int64(examples), createdAt: created))
            }

            let figures = try store.analytics.dashboard(userID: "alice", from: instant(), days: 3, failureLimit: 10)
            var expected = DashboardFigures()
            expected.statusCounts = JobStatusCounts([.completed: 3, .failed: 2, .pending: 1, .running: 1, .cancelled: 1])
            expected.createdPerDay = [4, 3, 1]
            expected.timedCompletions = 2
            expected.averageDurationSeconds = 90
            expected.p95DurationSeconds = 120
            expected.totalSteps = 357
            expected.metricsPoints = 4
            expected.datasets = 3
            expected.datasetExamples = 22
            expected.datasetsByFormat = ["chatml": 2, "alpaca": 1]
            expected.recentFailures = [lateFailure, earlyFailure].map {
                DashboardFigures.Failure(id: $0.id, modelName: $0.modelName, errorMessage: $0.errorMessage, completedAt: $0.completedAt)
            }
            #expect(figures == expected)

            let limited = try store.analytics.dashboard(userID: "alice", from: instant(), days: 3, failureLimit: 1)
            #expect(limited.recentFailures.map(\.id) == [lateFailure.id])
            // The range's end is exclusive: the last day's jobs are outside a range one day shorter.
            #expect(try store.analytics.dashboard(userID: "alice", from: instant(), days: 2, failureLimit: 10).createdPerDay == [4, 3])
        }
    }

    @Test(arguments: StoreBackend.all)
    func failuresWithoutACompletionTimeComeLast(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let undated = Self.job(.failed, day: 0, offset: 50)
            let dated = Self.job(.failed, day: 0, offset: 10, completed: 5)
            try store.trainingJobs.insert([undated, dated])
            let figures = try store.analytics.dashboard(userID: "alice", from: instant(), days: 1, failureLimit: 10)
            #expect(figures.recentFailures.map(\.id) == [dated.id, undated.id])
        }
    }

    @Test(arguments: StoreBackend.all)
    func durationsAverageAndNearestRankP95(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            try store.trainingJobs.insert((1...20).reversed().map { Self.job(.completed, day: 0, ran: (5, 5 + Double($0))) })
            let figures = try store.analytics.dashboard(userID: "alice", from: instant(), days: 1, failureLimit: 10)
            #expect(figures.timedCompletions == 20)
            #expect(figures.averageDurationSeconds == 10.5)
            #expect(figures.p95DurationSeconds == 19)
        }
    }

    @Test(arguments: StoreBackend.all)
    func emptyRange(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            try store.trainingJobs.insert([Self.job(.completed, day: 5, ran: (0, 1))])
            var expected = DashboardFigures()
            expected.createdPerDay = [0, 0, 0, 0]
            #expect(try store.analytics.dashboard(userID: "alice", from: instant(), days: 4, failureLimit: 10) == expected)
        }
    }

    /// Steps near the integer limit (stored before the API bounded them) saturate the sums instead of
    /// failing every later dashboard and aggregate of the user.
    @Test(arguments: StoreBackend.all)
    func stepSumsNeverOverflow(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            try store.trainingJobs.insert([
                Self.job(.running, day: 0, steps: .max - 1), Self.job(.running, day: 0, steps: .max - 1),
                Self.job(.completed, day: 1, steps: .max - 1),
            ])
            let figures = try store.analytics.dashboard(userID: "alice", from: instant(0), days: 7, failureLimit: 10)
            #expect(figures.totalSteps == .max)
            let aggregate = try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: false)
            #expect(aggregate.first?.totalSteps == .max)
        }
    }
}
