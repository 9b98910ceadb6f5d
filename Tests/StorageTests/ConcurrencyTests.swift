import Foundation
import Storage
import Testing

@Suite("Two stores on one file, writing from many threads")
struct ConcurrencyTests {
    @Test func concurrentWritersLoseNothing() throws {
        let directory = try TemporaryDirectory()
        // Two stores = two connection pools on one file, as two worker processes have.
        let stores = [try directory.migratedStore(), directory.store()]
        let shared = keyRecord(userID: "shared", name: "shared")
        try stores[0].apiKeys.insert(shared)

        let threads = 8
        let iterations = 40
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let store = stores[thread % stores.count]
            for iteration in 0..<iterations {
                do {
                    try store.apiKeys.insert(
                        keyRecord(
                            userID: "writer", name: "t\(thread)-i\(iteration)",
                            createdAt: Timestamp(millisecondsSinceEpoch: 1_766_000_000_000 + Int64(iteration))
                        ))
                    try store.apiKeys.recordUsage([
                        APIKeyUsage(
                            keyID: shared.id, requests: 1,
                            lastUsedAt: Timestamp(millisecondsSinceEpoch: 1_766_000_000_000 + Int64(thread * 1000 + iteration)))
                    ])
                    try store.trainingJobs.insert([
                        job(userID: "writer", status: JobStatus.allCases[iteration % JobStatus.allCases.count]),
                        job(userID: "writer", status: .running),
                    ])
                    // Reads interleave with the writes.
                    _ = try store.apiKeys.find(keyHash: shared.keyHash)
                    _ = try store.trainingJobs.statusCounts(userID: "writer")
                } catch {
                    failures.add("thread \(thread) iteration \(iteration): \(error)")
                }
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")

        let total = threads * iterations
        for store in stores {
            #expect(try store.apiKeys.list(userID: "writer", limit: 1, offset: 0).total == total)
            let counter = try #require(try store.apiKeys.find(keyHash: shared.keyHash))
            #expect(counter.requestCount == Int64(total))
            #expect(counter.lastUsedAt == Timestamp(millisecondsSinceEpoch: 1_766_000_000_000 + Int64((threads - 1) * 1000 + iterations - 1)))
            let counts = try store.trainingJobs.statusCounts(userID: "writer")
            #expect(counts.total == 2 * total)
        }
    }

    @Test func concurrentDuplicateNamesAdmitExactlyOne() throws {
        let directory = try TemporaryDirectory()
        let stores = [try directory.migratedStore(), directory.store()]
        let attempts = 16
        let successes = Failures()
        let unexpected = Failures()
        DispatchQueue.concurrentPerform(iterations: attempts) { attempt in
            do {
                try stores[attempt % 2].apiKeys.insert(keyRecord(userID: "alice", name: "race"))
                successes.add("\(attempt)")
            } catch StoreError.duplicate {
                // expected for all but one
            } catch {
                unexpected.add("\(error)")
            }
        }
        #expect(unexpected.all.isEmpty, "\(unexpected.all)")
        #expect(successes.all.count == 1)
        #expect(try stores[1].apiKeys.list(userID: "alice", limit: 10, offset: 0).total == 1)
    }
}
