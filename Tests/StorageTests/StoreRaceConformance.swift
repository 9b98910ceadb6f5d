import Domain
import Testing

/// The guarantees that hold however requests interleave: each test runs its
/// writers on threads of their own, half of them through a second store
/// object on the same database (a second worker process).
@Suite("Store race conformance")
struct StoreRaceConformance {
    static let threads = 8

    @Test(arguments: StoreBackend.all)
    func concurrentUpdatesOfOneJobEachSeeTheLast(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores in
            let target = job(userID: "alice", status: .running)
            try stores[0].trainingJobs.insert([target])
            let rounds = 25
            let results = onThreads(Self.threads) { thread in
                try (0..<rounds).map { _ in
                    // -1 (a job not found) would fail the expectation below.
                    try stores[thread % 2].trainingJobs.update(id: target.id, userID: "alice") { $0.currentStep += 1 }?.currentStep ?? -1
                }
            }
            let seen = try results.flatMap { try $0.get() }
            // Every increment landed, and no two updates read the same step.
            #expect(seen.sorted() == Array(1...Int64(Self.threads * rounds)))
            #expect(try stores[1].trainingJobs.find(id: target.id, userID: "alice")?.currentStep == Int64(Self.threads * rounds))
        }
    }

    @Test(arguments: StoreBackend.all)
    func concurrentTransitionsFromPendingAdmitExactlyOne(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores in
            let rounds = 10
            for _ in 0..<rounds {
                let target = job(userID: "alice")
                try stores[0].trainingJobs.insert([target])
                let results = onThreads(Self.threads) { thread in
                    try stores[thread % 2].trainingJobs.update(id: target.id, userID: "alice") { job in
                        guard job.status == .pending else { throw UnexpectedStatus(status: job.status) }
                        job.status = .running
                        job.startedAt = instant(Double(thread))
                    }
                }
                let winners = results.compactMap { try? $0.get() }
                #expect(winners.count == 1)
                // The others read the winner's change, not the pending job they raced for.
                let losers = results.compactMap { $0.error as? UnexpectedStatus }
                #expect(losers == Array(repeating: UnexpectedStatus(status: .running), count: Self.threads - 1))
                #expect(try stores[1].trainingJobs.find(id: target.id, userID: "alice") == winners.first ?? nil)
            }
            #expect(try stores[1].trainingJobs.statusCounts(userID: "alice") == JobStatusCounts([.running: rounds]))
        }
    }

    @Test(arguments: StoreBackend.all)
    func statusCountsEqualARecountAfterConcurrentTransitions(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores in
            let users = ["u1", "u2", "u3"]
            let jobs = (0..<60).map { job(userID: users[$0 % users.count], status: JobStatus.allCases[$0 % JobStatus.allCases.count]) }
            try stores[0].trainingJobs.insert(jobs)
            let results = onThreads(Self.threads) { thread in
                var generator = SystemRandomNumberGenerator()
                for round in 0..<30 {
                    let store = stores[(thread + round) % 2]
                    if round % 10 == 0 {
                        try store.trainingJobs.insert([job(userID: users[round % users.count], status: .pending)])
                    }
                    let target = jobs.randomElement(using: &generator)!
                    let next = JobStatus.allCases.randomElement(using: &generator)!
                    _ = try store.trainingJobs.update(id: target.id, userID: target.userID) { job in
                        if job.status.canTransition(to: next) { job.status = next }
                    }
                }
            }
            #expect(results.compactMap(\.error).isEmpty, "\(results.compactMap(\.error))")
            for store in stores {
                for user in users {
                    let counts = try store.trainingJobs.statusCounts(userID: user)
                    for status in JobStatus.allCases {
                        let recount = try store.trainingJobs.list(userID: user, filter: JobFilter(status: status), limit: 1, offset: 0).total
                        #expect(counts[status] == recount, "\(user) \(status)")
                    }
                    #expect(counts.total == (try store.trainingJobs.list(userID: user, filter: JobFilter(), limit: 1, offset: 0).total))
                }
            }
            #expect(
                try stores[0].trainingJobs.list(userID: "u1", filter: JobFilter(), limit: 1, offset: 0).total
                    + stores[0].trainingJobs.list(userID: "u2", filter: JobFilter(), limit: 1, offset: 0).total
                    + stores[0].trainingJobs.list(userID: "u3", filter: JobFilter(), limit: 1, offset: 0).total == 60 + Self.threads * 3)
        }
    }

    @Test(arguments: StoreBackend.all)
    func concurrentWritersLoseNothing(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores in
            let shared = keyRecord(userID: "shared", name: "shared")
            try stores[0].apiKeys.insert(shared)
            let rounds = 30
            let results = onThreads(Self.threads) { thread in
                let store = stores[thread % 2]
                for round in 0..<rounds {
                    try store.apiKeys.insert(keyRecord(userID: "writer", name: "t\(thread)-r\(round)", createdAt: instant(Double(round))))
                    try store.apiKeys.recordUsage([
                        APIKeyUsage(keyID: shared.id, requests: 1, lastUsedAt: instant(Double(thread * 1000 + round)))
                    ])
                    try store.trainingJobs.insert([
                        job(userID: "writer", status: JobStatus.allCases[round % JobStatus.allCases.count]), job(userID: "writer", status: .running),
                    ])
                    // Reads interleave with the writes.
                    _ = try store.apiKeys.find(keyHash: shared.keyHash)
                    _ = try store.trainingJobs.statusCounts(userID: "writer")
                }
            }
            #expect(results.compactMap(\.error).isEmpty, "\(results.compactMap(\.error).prefix(5))")

            let total = Self.threads * rounds
            for store in stores {
                #expect(try store.apiKeys.list(userID: "writer", limit: 1, offset: 0).total == total)
                let counter = try #require(try store.apiKeys.find(keyHash: shared.keyHash))
                #expect(counter.requestCount == Int64(total))
                #expect(counter.lastUsedAt == instant(Double((Self.threads - 1) * 1000 + rounds - 1)))
                #expect(try store.trainingJobs.statusCounts(userID: "writer").total == 2 * total)
            }
        }
    }

    @Test(arguments: StoreBackend.all)
    func concurrentSameNameKeysAdmitExactlyOne(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores throws in
            let results = onThreads(Self.threads * 2) { thread in try stores[thread % 2].apiKeys.insert(keyRecord(userID: "alice", name: "race")) }
            #expect(results.filter { (try? $0.get()) != nil }.count == 1)
            #expect(results.compactMap(\.error).allSatisfy(isDuplicate), "\(results.compactMap(\.error))")
            #expect(try stores[1].apiKeys.list(userID: "alice", limit: 10, offset: 0).total == 1)
        }
    }

    @Test(arguments: StoreBackend.all)
    func concurrentSameNameDatasetsAdmitExactlyOne(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores throws in
            let results = onThreads(Self.threads * 2) { thread in try stores[thread % 2].datasets.insert(dataset(userID: "alice", name: "race")) }
            #expect(results.filter { (try? $0.get()) != nil }.count == 1)
            #expect(results.compactMap(\.error).allSatisfy(isDuplicate), "\(results.compactMap(\.error))")
            #expect(try stores[1].datasets.list(userID: "alice", limit: 10, offset: 0).total == 1)
        }
    }

    @Test(arguments: StoreBackend.all)
    func datasetDeleteAndJobInsertNeverBothSucceed(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores in
            for _ in 0..<20 {
                let record = dataset(userID: "alice")
                try stores[0].datasets.insert(record)
                let user = job(userID: "alice", datasetID: record.id)
                let results = onThreads(2) { thread -> DatasetDeletion? in
                    if thread == 0 {
                        try stores[0].trainingJobs.insert([user])
                        return nil
                    }
                    return try stores[1].datasets.delete(id: record.id, userID: "alice")
                }
                let deletion = try results[1].get()
                switch results[0] {
                case .success:
                    #expect(deletion == .inUse(jobs: 1))
                    #expect(try stores[0].datasets.find(id: record.id, userID: "alice") == record)
                case .failure(let error):
                    #expect(isMissingReference(error), "\(error)")
                    #expect(deletion == .deleted(record))
                    #expect(try stores[0].trainingJobs.find(id: user.id, userID: "alice") == nil)
                }
            }
        }
    }

    @Test(arguments: StoreBackend.all)
    func concurrentResendsOfAMetricBatchStoreItOnce(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores in
            let running = job(userID: "alice", status: .running)
            try stores[0].trainingJobs.insert([running])
            let batch = (1...50).map { MetricPoint(step: $0, trainLoss: 1 / Double($0), evalLoss: 2 / Double($0), samplesPerSecond: Double($0)) }
            let results = onThreads(Self.threads) { thread in
                _ = try stores[thread % 2].trainingJobs.appendMetrics(id: running.id, userID: "alice", points: batch) { job, best in
                    job.currentStep = 50
                    job.bestEvalLoss = best
                }
            }
            #expect(results.compactMap(\.error).isEmpty, "\(results.compactMap(\.error))")
            let stored = try stores[1].trainingJobs.metrics(jobID: running.id, sinceStep: nil, limit: 100, offset: 0)
            #expect(stored.points == batch && stored.total == 50)
            let summary = try #require(try stores[1].trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: false).first)
            #expect(summary.averageSamplesPerSecond == 25.5)
            #expect(summary.best == BestEvalLoss(value: 0.04, jobID: running.id, step: 50))
            #expect(try stores[1].analytics.dashboard(userID: "alice", from: instant(), days: 1, failureLimit: 1).metricsPoints == 50)
        }
    }

    @Test(arguments: StoreBackend.all)
    func concurrentPreferenceUpdatesEachSeeTheLast(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores in
            let rounds = 10
            let results = onThreads(Self.threads) { thread in
                for _ in 0..<rounds {
                    _ = try stores[thread % 2].notificationPreferences.update(userID: "alice", at: instant()) { value in
                        value.emailAddress = (value.emailAddress ?? "") + "\(thread)"
                    }
                }
            }
            #expect(results.compactMap(\.error).isEmpty, "\(results.compactMap(\.error))")
            let address = try #require(try stores[1].notificationPreferences.find(userID: "alice")?.emailAddress)
            #expect(address.count == Self.threads * rounds)
            for thread in 0..<Self.threads { #expect(address.filter { $0 == Character("\(thread)") }.count == rounds) }
        }
    }

    @Test(arguments: StoreBackend.all)
    func pagesAgreeWithTheirTotalsWhileWritersInsert(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores in
            let reported = job(userID: "alice", status: .running)
            try stores[0].trainingJobs.insert([reported])
            let writers = 2
            let rounds = 150
            let finished = Locked(0)
            let results = onThreads(writers + 2) { thread -> [String] in
                let store = stores[thread % 2]
                if thread < writers {
                    defer { finished.withLock { $0 += 1 } }
                    for round in 0..<rounds {
                        let step = Int64(round * writers + thread)
                        try store.apiKeys.insert(keyRecord(userID: "alice", name: "k\(step)"))
                        var failed = job(userID: "alice", status: .failed)
                        failed.completedAt = instant(Double(step))
                        try store.trainingJobs.insert([failed])
                        try store.datasets.insert(dataset(userID: "alice"))
                        _ = try store.trainingJobs.appendMetrics(id: reported.id, userID: "alice", points: [MetricPoint(step: step)]) { _, _ in }
                    }
                    return []
                }
                // Each page holds every row there is, so it must be as long as its total.
                var disagreements: [String] = []
                while finished.withLock({ $0 }) < writers {
                    let keys = try store.apiKeys.list(userID: "alice", limit: 10_000, offset: 0)
                    if keys.keys.count != keys.total { disagreements.append("keys \(keys.keys.count) of \(keys.total)") }
                    let jobs = try store.trainingJobs.list(userID: "alice", filter: JobFilter(status: .failed), limit: 10_000, offset: 0)
                    if jobs.jobs.count != jobs.total { disagreements.append("jobs \(jobs.jobs.count) of \(jobs.total)") }
                    let sets = try store.datasets.list(userID: "alice", limit: 10_000, offset: 0)
                    if sets.datasets.count != sets.total { disagreements.append("datasets \(sets.datasets.count) of \(sets.total)") }
                    let points = try store.trainingJobs.metrics(jobID: reported.id, sinceStep: nil, limit: 10_000, offset: 0)
                    if points.points.count != points.total { disagreements.append("points \(points.points.count) of \(points.total)") }
                    let figures = try store.analytics.dashboard(userID: "alice", from: instant(), days: 1, failureLimit: 10_000)
                    if figures.recentFailures.count != figures.statusCounts[.failed] {
                        disagreements.append("dashboard failures \(figures.recentFailures.count) of \(figures.statusCounts[.failed])")
                    }
                }
                return disagreements
            }
            let disagreements = try results.flatMap { try $0.get() }
            #expect(disagreements.isEmpty, "\(disagreements.count): \(disagreements.prefix(5))")
        }
    }
}
