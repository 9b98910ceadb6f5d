import Domain
import Testing

/// What FineTune Lab compatibility keeps in the store (jobs' external ids, log lines, predictions,
/// the extra metric fields) as every backend implements it.
@Suite("FineTune Lab store conformance")
struct FineTuneLabStoreConformance {
    static func localJob(userID: String, externalID: String) -> TrainingJob {
        TrainingJob(
            id: uuid(), userID: userID, modelName: "m", jobTokenHash: uuid() + uuid(), createdAt: instant(), externalID: externalID,
            datasetPath: "./data/train.jsonl", jobToken: "token-" + uuid()
        )
    }

    static func prediction(jobID: String, epoch: Int64, step: Int64, sample: Int64, cer: Double? = nil, pass: Bool? = nil) -> TrainingPrediction {
        TrainingPrediction(
            id: uuid(), jobID: jobID, epoch: epoch, step: step, sampleIndex: sample, prompt: "2+2? \"quoted\" \\ back", prediction: "4",
            charErrorRate: cer, validationPass: pass, createdAt: instant(Double(epoch))
        )
    }

    @Test(arguments: StoreBackend.all)
    func externalIDsAreFoundPerUserAndUniquePerUser(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let alices = Self.localJob(userID: "alice", externalID: "local_training_001")
            let bobs = Self.localJob(userID: "bob", externalID: "local_training_001")
            try store.trainingJobs.insert([alices, bobs])
            #expect(try store.trainingJobs.find(externalID: "local_training_001", userID: "alice") == alices)
            #expect(try store.trainingJobs.find(externalID: "local_training_001", userID: "bob") == bobs)
            #expect(try store.trainingJobs.find(externalID: "local_training_002", userID: "alice") == nil)
            #expect(try store.trainingJobs.find(id: alices.id, userID: "alice")?.jobToken == alices.jobToken)
            do {
                try store.trainingJobs.insert([Self.localJob(userID: "alice", externalID: "local_training_001")])
                Issue.record("a second job of alice's named local_training_001 was stored")
            } catch {
                #expect(isDuplicate(error), "\(error)")
            }
            // The external id and the token are fixed; the dataset path is not.
            let updated = try store.trainingJobs.update(id: alices.id, userID: "alice") { job in
                job.externalID = "renamed"
                job.jobToken = "other"
                job.datasetPath = "/elsewhere.jsonl"
            }
            #expect(updated?.externalID == "local_training_001" && updated?.jobToken == alices.jobToken)
            #expect(updated?.datasetPath == "/elsewhere.jsonl")
        }
    }

    @Test(arguments: StoreBackend.all)
    func extraMetricFieldsRoundTrip(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let running = job(userID: "alice", status: .running)
            try store.trainingJobs.insert([running])
            let point = MetricPoint(step: 3, trainLoss: 1.5, gpuMemoryReservedGB: 30.25, perplexity: 4.5, trainPerplexity: 4.25)
            _ = try store.trainingJobs.appendMetrics(id: running.id, userID: "alice", points: [point]) { _, _ in }
            #expect(try store.trainingJobs.metrics(jobID: running.id, sinceStep: nil, limit: 10, offset: 0).points == [point])
            // A limit of -1 is no limit.
            #expect(try store.trainingJobs.metrics(jobID: running.id, sinceStep: nil, limit: -1, offset: 0).points == [point])
        }
    }

    @Test(arguments: StoreBackend.all)
    func logsKeepTheNewestLinesInOrder(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let running = job(userID: "alice", status: .running)
            let other = job(userID: "alice", status: .running)
            try store.trainingJobs.insert([running, other])
            let logs = store.trainingLogs
            #expect(try logs.append(jobID: running.id, lines: ["a \"quoted\" line", "back\\slash", "{braces},commas"], keep: 5) == 3)
            #expect(
                try logs.lines(jobID: running.id, offset: 0, limit: 10)
                    == LogPage(lines: ["a \"quoted\" line", "back\\slash", "{braces},commas"], total: 3, offset: 0))
            #expect(try logs.append(jobID: running.id, lines: ["4", "5", "6", "7"], keep: 5) == 5)
            #expect(try logs.append(jobID: running.id, lines: [], keep: 5) == 5)
            #expect(
                try logs.lines(jobID: running.id, offset: 0, limit: 10)
                    == LogPage(lines: ["{braces},commas", "4", "5", "6", "7"], total: 5, offset: 0))
            #expect(try logs.lines(jobID: running.id, offset: 1, limit: 2) == LogPage(lines: ["4", "5"], total: 5, offset: 1))
            #expect(try logs.lines(jobID: running.id, offset: -2, limit: 10) == LogPage(lines: ["6", "7"], total: 5, offset: 3))
            #expect(try logs.lines(jobID: running.id, offset: -50, limit: 1) == LogPage(lines: ["{braces},commas"], total: 5, offset: 0))
            #expect(try logs.lines(jobID: running.id, offset: 9, limit: 1) == LogPage(lines: [], total: 5, offset: 9))
            #expect(try logs.lines(jobID: other.id, offset: 0, limit: 10) == LogPage(lines: [], total: 0, offset: 0))
        }
    }

    /// Lines that an array literal must quote (PostgreSQL sends a batch as one): a quote or backslash followed by a
    /// combining mark (one Character with it, but still a quote), separators, the word NULL, braces, nothing.
    @Test(arguments: StoreBackend.all)
    func linesThatAnArrayLiteralMustQuoteComeBackAsSent(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let running = job(userID: "alice", status: .running)
            try store.trainingJobs.insert([running])
            let lines = ["x\"\u{301}", "\\\u{301}y", "a,b", "NULL", "null", "{}", "", " spaced ", "\"", "\\", "é\u{200D}\"\u{FE0F}"]
            #expect(try store.trainingLogs.append(jobID: running.id, lines: lines, keep: 100) == lines.count)
            #expect(
                try store.trainingLogs.lines(jobID: running.id, offset: 0, limit: 100).lines.map { Array($0.unicodeScalars) }
                    == lines.map { Array($0.unicodeScalars) })
        }
    }

    @Test(arguments: StoreBackend.all)
    func concurrentAppendsFromTwoProcessesNumberEveryLine(_ backend: StoreBackend) throws {
        try backend.withTwoStores { stores in
            let running = job(userID: "alice", status: .running)
            try stores[0].trainingJobs.insert([running])
            let results = onThreads(8) { thread in
                try stores[thread % 2].trainingLogs.append(jobID: running.id, lines: (0..<25).map { "t\(thread) line \($0)" }, keep: 10_000)
            }
            for result in results { _ = try result.get() }
            let page = try stores[1].trainingLogs.lines(jobID: running.id, offset: 0, limit: 1000)
            #expect(page.total == 200 && page.lines.count == 200)
            // Each thread's lines stay in its order, with none lost.
            for thread in 0..<8 {
                #expect(page.lines.filter { $0.hasPrefix("t\(thread) ") } == (0..<25).map { "t\(thread) line \($0)" })
            }
        }
    }

    @Test(arguments: StoreBackend.all)
    func predictionsAreIdempotentAndSummarisedPerEpoch(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let running = job(userID: "alice", status: .running)
            try store.trainingJobs.insert([running])
            var full = Self.prediction(jobID: running.id, epoch: 1, step: 100, sample: 0, cer: 0.5, pass: true)
            full.groundTruth = "four"
            full.exactMatch = 0
            full.lengthRatio = 0.25
            full.wordOverlap = 0.125
            full.promptTokens = 7
            full.completionTokens = 1
            full.totalTokens = 8
            full.latencyMS = 12.5
            full.validationKind = "json"
            full.validationErrorsJSON = #"["missing key"]"#
            let batch = [
                full, Self.prediction(jobID: running.id, epoch: 1, step: 100, sample: 1, cer: 0.25, pass: false),
                Self.prediction(jobID: running.id, epoch: 2, step: 200, sample: 0, cer: 0.125),
                Self.prediction(jobID: running.id, epoch: 2, step: 250, sample: 1),
            ]
            try store.trainingPredictions.upsert(batch)
            let first = try store.trainingPredictions.list(jobID: running.id, epoch: nil, limit: 10, offset: 0)
            #expect(first.predictions == batch && first.totalCount == 4 && first.epochCount == 2)

            // The same records again, under new ids: the stored rows keep theirs.
            try store.trainingPredictions.upsert(
                batch.map { record in
                    var copy = record
                    copy.id = uuid()
                    copy.createdAt = instant(99)
                    return copy
                })
            #expect(try store.trainingPredictions.list(jobID: running.id, epoch: nil, limit: 10, offset: 0) == first)
            let second = try store.trainingPredictions.list(jobID: running.id, epoch: 2, limit: 1, offset: 1)
            #expect(second.predictions == [batch[3]] && second.totalCount == 4 && second.epochCount == 2)

            let epochs = try store.trainingPredictions.epochs(jobID: running.id)
            #expect(epochs.count == 2)
            #expect(
                epochs.first
                    == PredictionEpochSummary(
                        epoch: 1, latestStep: 100, count: 2, averageExactMatch: 0, averageCharErrorRate: 0.375, averageLengthRatio: 0.25,
                        averageWordOverlap: 0.125, minimumCharErrorRate: 0.25, maximumCharErrorRate: 0.5, validationPassRate: 0.5))
            #expect(
                epochs.last
                    == PredictionEpochSummary(
                        epoch: 2, latestStep: 250, count: 2, averageCharErrorRate: 0.125, minimumCharErrorRate: 0.125, maximumCharErrorRate: 0.125))
            #expect(try store.trainingPredictions.epochs(jobID: uuid()).isEmpty)
        }
    }
}
