import Domain
import Testing

/// `TrainingJobStore`'s jobs (its metrics are in `TrainingMetricsConformance`) as every backend implements them.
@Suite("TrainingJobStore conformance")
struct TrainingJobStoreConformance {
    /// A job with every field set, whose dataset belongs to its user.
    static func fullJob(userID: String, datasetID: String?, resumedFrom: String? = nil) -> TrainingJob {
        TrainingJob(
            id: uuid(), userID: userID, modelName: "meta-llama/Llama-3-8B", datasetID: datasetID, status: .running,
            // In jsonb's own spacing: PostgreSQL keeps the JSON value, not the text (the API re-serializes it anyway).
            configJSON: #"{"lr": 0.0001, "lora": {"r": 8}}"#, progress: 42.5, currentStep: 425, totalSteps: 1000, currentEpoch: 1,
            totalEpochs: 3, trainLoss: 1.25, evalLoss: 1.5, bestEvalLoss: 1.375, errorMessage: "retrying after OOM",
            resumedFromJobID: resumedFrom, jobTokenHash: uuid() + uuid(), createdAt: instant(1), updatedAt: instant(2),
            startedAt: instant(3), completedAt: instant(4)
        )
    }

    @Test(arguments: StoreBackend.all)
    func insertedJobIsFoundWhole(_ backend: StoreBackend) throws {
        try backend.withDatabase { database in
            let store = try database.open()
            let set = dataset(userID: "alice")
            try store.datasets.insert(set)
            let original = job(userID: "alice", status: .failed)
            let full = Self.fullJob(userID: "alice", datasetID: set.id, resumedFrom: original.id)
            let bare = job(userID: "alice")
            try store.trainingJobs.insert([original, full, bare])

            #expect(try store.trainingJobs.find(id: full.id, userID: "alice") == full)
            #expect(try store.trainingJobs.find(id: bare.id, userID: "alice") == bare)
            #expect(try store.trainingJobs.find(id: full.id, userID: "bob") == nil)
            #expect(try store.trainingJobs.find(id: uuid(), userID: "alice") == nil)
            #expect(try store.trainingJobs.find(tokenHash: try #require(full.jobTokenHash)) == full)
            #expect(try store.trainingJobs.find(tokenHash: uuid()) == nil)
            #expect(try database.open().trainingJobs.find(id: full.id, userID: "alice") == full)
        }
    }

    @Test(arguments: StoreBackend.all)
    func insertIsOneTransaction(_ backend: StoreBackend) throws {
        try backend.withStore { store throws in
            let first = job(userID: "alice")
            // The third job reuses the first one's id: nothing of the batch is stored.
            #expect(performing: { try store.trainingJobs.insert([first, job(userID: "alice", status: .running), first]) }, throws: isDuplicate)
            #expect(try store.trainingJobs.statusCounts(userID: "alice").total == 0)
            #expect(try store.trainingJobs.list(userID: "alice", filter: JobFilter(), limit: 10, offset: 0).total == 0)
        }
    }

    @Test(arguments: StoreBackend.all)
    func jobNeedsADatasetOfItsOwnUser(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let bobs = dataset(userID: "bob")
            let alices = dataset(userID: "alice")
            try store.datasets.insert(bobs)
            try store.datasets.insert(alices)

            #expect(performing: { try store.trainingJobs.insert([job(userID: "alice", datasetID: bobs.id)]) }, throws: isMissingReference)
            #expect(performing: { try store.trainingJobs.insert([job(userID: "alice", datasetID: uuid())]) }, throws: isMissingReference)
            // A good job before the bad one in the batch is not stored either.
            #expect(
                performing: {
                    try store.trainingJobs.insert([job(userID: "alice", datasetID: alices.id), job(userID: "alice", datasetID: bobs.id)])
                }, throws: isMissingReference)
            #expect(try store.trainingJobs.statusCounts(userID: "alice").total == 0)

            let own = job(userID: "alice", datasetID: alices.id)
            try store.trainingJobs.insert([own, job(userID: "bob", datasetID: bobs.id)])
            #expect(try store.trainingJobs.find(id: own.id, userID: "alice")?.datasetID == alices.id)
        }
    }

    @Test(arguments: StoreBackend.all)
    func jobResumesFromAJobThatExists(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            var restart = job(userID: "alice")
            restart.resumedFromJobID = uuid()
            #expect(performing: { try store.trainingJobs.insert([restart]) }, throws: isMissingReference)
            #expect(try store.trainingJobs.statusCounts(userID: "alice").total == 0)

            let original = job(userID: "alice", status: .failed)
            restart.resumedFromJobID = original.id
            try store.trainingJobs.insert([original, restart])
            #expect(try store.trainingJobs.find(id: restart.id, userID: "alice")?.resumedFromJobID == original.id)
        }
    }

    @Test(arguments: StoreBackend.all)
    func statusCountsPerUser(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let counts: [JobStatus: Int] = [.pending: 2, .running: 1, .paused: 3, .completed: 4, .failed: 1]
            try store.trainingJobs.insert(counts.flatMap { status, count in (0..<count).map { _ in job(userID: "alice", status: status) } })
            try store.trainingJobs.insert(JobStatus.allCases.map { job(userID: "bob", status: $0) })

            #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts(counts))
            let one = Dictionary(uniqueKeysWithValues: JobStatus.allCases.map { ($0, 1) })
            #expect(try store.trainingJobs.statusCounts(userID: "bob") == JobStatusCounts(one))
            #expect(try store.trainingJobs.statusCounts(userID: "carol") == JobStatusCounts())
        }
    }

    @Test(arguments: StoreBackend.all)
    func listFiltersPagesAndCounts(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let statuses: [JobStatus] = [.pending, .running, .completed, .running, .failed, .running]
            let jobs = statuses.indices.map { index in
                job(userID: "alice", status: statuses[index], model: index % 2 == 0 ? "even" : "odd", createdAt: instant(Double(index)))
            }
            try store.trainingJobs.insert(jobs.reversed())
            try store.trainingJobs.insert([job(userID: "bob", status: .running, createdAt: instant(100))])
            func ids(_ indices: [Int]) -> [String] { indices.map { jobs[$0].id } }

            let all = try store.trainingJobs.list(userID: "alice", filter: JobFilter(), limit: 10, offset: 0)
            #expect(all.jobs.map(\.id) == ids([5, 4, 3, 2, 1, 0]))
            #expect(all.total == 6)
            #expect(all.jobs.first == jobs[5])

            let running = try store.trainingJobs.list(userID: "alice", filter: JobFilter(status: .running), limit: 2, offset: 1)
            #expect(running.jobs.map(\.id) == ids([3, 1]))
            #expect(running.total == 3)

            let odd = try store.trainingJobs.list(userID: "alice", filter: JobFilter(modelName: "odd"), limit: 10, offset: 0)
            #expect(odd.jobs.map(\.id) == ids([5, 3, 1]) && odd.total == 3)

            let both = try store.trainingJobs.list(userID: "alice", filter: JobFilter(status: .running, modelName: "odd"), limit: 1, offset: 0)
            #expect(both.jobs.map(\.id) == ids([5]) && both.total == 3)

            let none = try store.trainingJobs.list(userID: "alice", filter: JobFilter(status: .cancelled), limit: 10, offset: 0)
            #expect(none.jobs.isEmpty && none.total == 0)
            let past = try store.trainingJobs.list(userID: "alice", filter: JobFilter(), limit: 10, offset: 6)
            #expect(past.jobs.isEmpty && past.total == 6)
        }
    }

    @Test(arguments: StoreBackend.all)
    func listBreaksTimeTiesDeterministically(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            try store.trainingJobs.insert((0..<7).map { _ in job(userID: "alice") })
            let whole = try store.trainingJobs.list(userID: "alice", filter: JobFilter(), limit: 7, offset: 0).jobs.map(\.id)
            let paged = try (0..<4).flatMap {
                try store.trainingJobs.list(userID: "alice", filter: JobFilter(), limit: 2, offset: $0 * 2).jobs.map(\.id)
            }
            #expect(paged == whole)
            #expect(Set(whole).count == 7)
        }
    }

    @Test(arguments: StoreBackend.all)
    func updateStoresAndReturnsTheChange(_ backend: StoreBackend) throws {
        try backend.withDatabase { database in
            let store = try database.open()
            let original = job(userID: "alice")
            try store.trainingJobs.insert([original])

            let updated = try store.trainingJobs.update(id: original.id, userID: "alice") { job in
                job.status = .running
                job.progress = 12.5
                job.currentStep = 125
                job.totalSteps = 1000
                job.errorMessage = "slow"
                job.updatedAt = instant(60)
                job.startedAt = instant(30)
            }
            var expected = original
            expected.status = .running
            expected.progress = 12.5
            expected.currentStep = 125
            expected.totalSteps = 1000
            expected.errorMessage = "slow"
            expected.updatedAt = instant(60)
            expected.startedAt = instant(30)
            #expect(updated == expected)
            #expect(try database.open().trainingJobs.find(id: original.id, userID: "alice") == expected)
            #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts([.running: 1]))

            // Nullable fields can be cleared again.
            let cleared = try store.trainingJobs.update(id: original.id, userID: "alice") { job in
                job.errorMessage = nil
                job.totalSteps = nil
            }
            #expect(cleared?.errorMessage == nil && cleared?.totalSteps == nil)
            #expect(try store.trainingJobs.find(id: original.id, userID: "alice") == cleared)
        }
    }

    @Test(arguments: StoreBackend.all)
    func updateKeepsTheFixedFields(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let original = Self.fullJob(userID: "alice", datasetID: nil)
            let other = job(userID: "bob")
            try store.trainingJobs.insert([original, other])
            let updated = try store.trainingJobs.update(id: original.id, userID: "alice") { job in
                job.id = other.id
                job.userID = other.userID
                job.createdAt = instant(1000)
                job.jobTokenHash = nil
                job.resumedFromJobID = other.id
                job.progress = 99
            }
            var expected = original
            expected.progress = 99
            #expect(updated == expected)
            #expect(try store.trainingJobs.find(id: original.id, userID: "alice") == expected)
            #expect(try store.trainingJobs.find(id: other.id, userID: "bob") == other)
        }
    }

    @Test(arguments: StoreBackend.all)
    func updateOfAnotherUsersOrUnknownJobIsNil(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let original = job(userID: "alice")
            try store.trainingJobs.insert([original])
            var calls = 0
            #expect(
                try store.trainingJobs.update(id: original.id, userID: "mallory") { job in
                    calls += 1
                    job.status = .cancelled
                } == nil)
            #expect(
                try store.trainingJobs.update(id: uuid(), userID: "alice") { job in
                    calls += 1
                    job.status = .cancelled
                } == nil)
            #expect(calls == 0)
            #expect(try store.trainingJobs.find(id: original.id, userID: "alice") == original)
        }
    }

    @Test(arguments: StoreBackend.all)
    func updateThatThrowsChangesNothing(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let original = job(userID: "alice")
            try store.trainingJobs.insert([original])
            #expect(throws: UnexpectedStatus(status: .running)) {
                _ = try store.trainingJobs.update(id: original.id, userID: "alice") { job in
                    job.status = .running
                    job.currentStep = 99
                    throw UnexpectedStatus(status: job.status)
                }
            }
            #expect(try store.trainingJobs.find(id: original.id, userID: "alice") == original)
            #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts([.pending: 1]))
        }
    }
}
