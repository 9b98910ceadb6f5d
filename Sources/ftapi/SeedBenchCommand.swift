import API
import ArgumentParser
import Domain
import Essentials

#if canImport(Glibc)
import Glibc
#endif

/// `ftapi seed-bench`: fills an empty database with the benchmark's data
/// shape (see the peers' README) and writes the keys file the bench reads.
struct SeedBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed-bench",
        abstract: "Seed users, one training key each, and jobs with the benchmark's status mix and per-user skew."
    )

    @OptionGroup var store: StoreOptions
    @Option(help: "Users (one API key each).") var users = 1000
    @Option(help: "Training jobs.") var jobs = 100_000
    @Option(help: "Random seed (same seed, same data).") var seed: UInt64 = 20_240_601
    @Option(name: .customLong("keys-out"), help: "Write KEY<TAB>EXPECTED_STATS_JSON lines here.") var keysOut: String

    func run() throws {
        let database = try store.openStore()
        try database.migrate()
        var random = SplitMix64(seed: seed)

        // Pareto(alpha 2) user weights; owners drawn in proportion to them.
        let weights = (0..<users).map { _ in 1 / (1 - random.nextDouble()).squareRoot() }
        var cumulative: [Double] = []
        var sum = 0.0
        for weight in weights {
            sum += weight
            cumulative.append(sum)
        }
        let userIDs = (0..<users).map { _ in uuid(&random) }
        let statusWeights: [(JobStatus, Double)] = [(.pending, 10), (.running, 5), (.completed, 65), (.failed, 12), (.cancelled, 8)]
        let models = ["meta-llama/Llama-3.1-8B", "mistralai/Mistral-7B-v0.3", "Qwen/Qwen2.5-7B", "google/gemma-2-9b", "microsoft/phi-3-mini"]
        let start = Timestamp(iso8601: "2024-01-01T00:00:00Z")!.millisecondsSinceEpoch
        var counts = Array(repeating: JobStatusCounts(), count: users)

        var batch: [TrainingJob] = []
        batch.reserveCapacity(10_000)
        for _ in 0..<jobs {
            let target = random.nextDouble() * sum
            var low = 0
            var high = users - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle] <= target { low = middle + 1 } else { high = middle }
            }
            var pick = random.nextDouble() * 100
            var status = JobStatus.completed
            for (candidate, weight) in statusWeights {
                if pick < weight {
                    status = candidate
                    break
                }
                pick -= weight
            }
            counts[low][status] += 1
            let created = start + Int64(random.nextDouble() * 180 * 86_400_000)
            batch.append(
                TrainingJob(
                    id: uuid(&random), userID: userIDs[low], modelName: models[Int(random.next() % 5)], status: status,
                    createdAt: Timestamp(millisecondsSinceEpoch: created),
                    updatedAt: Timestamp(millisecondsSinceEpoch: created + Int64(random.nextDouble() * 7_200_000))
                )
            )
            if batch.count == 10_000 {
                try database.trainingJobs.insert(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        try database.trainingJobs.insert(batch)

        var lines = ""
        for (index, userID) in userIDs.enumerated() {
            let key = APIKeyFormat.generate(using: &random)
            try database.apiKeys.insert(
                APIKeyRecord(
                    id: uuid(&random), userID: userID, name: "bench", keyHash: APIKeyFormat.hash(key),
                    keyPrefix: String(key.prefix(APIKeyFormat.displayPrefixLength)), scopes: [.training], createdAt: .now()
                )
            )
            lines += key + "\t" + statsJSON(counts[index]) + "\n"
        }
        guard let file = fopen(keysOut, "w") else { throw ValidationError("cannot write \(keysOut)") }
        fputs(lines, file)
        fclose(file)
        print("seeded \(users) users, \(jobs) jobs; keys in \(keysOut)")
    }

    private func statsJSON(_ counts: JobStatusCounts) -> String {
        "{\"total_jobs\":\(counts.total),\"completed\":\(counts[.completed]),\"running\":\(counts[.running]),"
            + "\"failed\":\(counts[.failed]),\"pending\":\(counts[.pending]),\"cancelled\":\(counts[.cancelled])}"
    }

    private func uuid(_ random: inout SplitMix64) -> String {
        var bytes: [UInt8] = []
        for index in 0..<32 {
            if [8, 12, 16, 20].contains(index) { bytes.append(UInt8(ascii: "-")) }
            var nibble = UInt8(random.next() & 0xF)
            if index == 12 { nibble = 4 }
            if index == 16 { nibble = 8 | (nibble & 3) }
            bytes.append(Hex.digit(nibble))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A small deterministic generator (SplitMix64), for reproducible benchmark data.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
