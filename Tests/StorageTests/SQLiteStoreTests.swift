import Foundation
import Storage
import Testing

@Suite("SQLiteStore")
struct SQLiteStoreTests {
    // MARK: Migrations

    @Test func migrationsAreIdempotent() throws {
        let directory = try TemporaryDirectory()
        let store = directory.store()
        #expect(try store.schemaVersion() == 0)
        try store.migrate()
        #expect(try store.schemaVersion() == SQLiteStore.latestSchemaVersion)
        try store.apiKeys.insert(keyRecord(userID: "u", name: "kept"))
        try store.migrate()
        #expect(try store.schemaVersion() == SQLiteStore.latestSchemaVersion)
        // A second store (another process) migrating the same file changes nothing either.
        let again = directory.store()
        try again.migrate()
        #expect(try again.schemaVersion() == SQLiteStore.latestSchemaVersion)
        #expect(try again.apiKeys.list(userID: "u", limit: 10, offset: 0).total == 1)
        try store.ping()
    }

    @Test func concurrentMigrationsFromTwoStoresSucceed() throws {
        let directory = try TemporaryDirectory()
        let stores = [directory.store(), directory.store(), directory.store(), directory.store()]
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: stores.count) { index in
            do { try stores[index].migrate() } catch { failures.add("\(error)") }
        }
        #expect(failures.all.isEmpty)
        for store in stores { #expect(try store.schemaVersion() == SQLiteStore.latestSchemaVersion) }
    }

    // MARK: API keys

    @Test func duplicateActiveNameIsRefusedUntilRevoked() throws {
        let directory = try TemporaryDirectory()
        let store = try directory.migratedStore()
        let first = keyRecord(userID: "alice", name: "ci")
        try store.apiKeys.insert(first)

        #expect {
            try store.apiKeys.insert(keyRecord(userID: "alice", name: "ci"))
        } throws: { error in
            guard case StoreError.duplicate = error else { return false }
            return true
        }
        // Another user may use the name.
        try store.apiKeys.insert(keyRecord(userID: "bob", name: "ci"))

        #expect(try store.apiKeys.revoke(id: first.id, userID: "alice", at: Timestamp(millisecondsSinceEpoch: 1_766_000_001_000)))
        let second = keyRecord(userID: "alice", name: "ci")
        try store.apiKeys.insert(second)
        // And once more only after the second is revoked.
        #expect(throws: StoreError.self) { try store.apiKeys.insert(keyRecord(userID: "alice", name: "ci")) }
        let listed = try store.apiKeys.list(userID: "alice", limit: 10, offset: 0)
        #expect(listed.keys.map(\.id) == [second.id])
    }

    @Test func duplicateHashIsRefused() throws {
        let store = try TemporaryDirectory().migratedStore()
        let first = keyRecord(userID: "alice", name: "a")
        try store.apiKeys.insert(first)
        var clash = keyRecord(userID: "bob", name: "b")
        clash.keyHash = first.keyHash
        #expect(throws: StoreError.self) { try store.apiKeys.insert(clash) }
    }

    @Test func findByHashReturnsTheWholeRecord() throws {
        let directory = try TemporaryDirectory()
        let store = try directory.migratedStore()
        let record = keyRecord(userID: "alice", name: "full", scopes: [.training, .analytics])
        try store.apiKeys.insert(record)
        try store.apiKeys.insert(keyRecord(userID: "alice", name: "other"))

        #expect(try store.apiKeys.find(keyHash: record.keyHash) == record)
        #expect(try store.apiKeys.find(keyHash: String(repeating: "0", count: 64)) == nil)
        #expect(try store.apiKeys.find(keyHash: "") == nil)

        // A revoked key is still found, with its revocation time.
        let revokedAt = Timestamp(millisecondsSinceEpoch: 1_766_000_123_456)
        #expect(try store.apiKeys.revoke(id: record.id, userID: "alice", at: revokedAt))
        #expect(try store.apiKeys.find(keyHash: record.keyHash)?.revokedAt == revokedAt)

        // Visible from another store on the same file.
        #expect(try directory.store().apiKeys.find(keyHash: record.keyHash)?.revokedAt == revokedAt)
    }

    @Test func revokeOnlyOwnActiveKey() throws {
        let store = try TemporaryDirectory().migratedStore()
        let record = keyRecord(userID: "alice", name: "mine")
        try store.apiKeys.insert(record)
        let now = Timestamp(millisecondsSinceEpoch: 1_766_000_500_000)

        #expect(try store.apiKeys.revoke(id: record.id, userID: "mallory", at: now) == false)
        #expect(try store.apiKeys.find(keyHash: record.keyHash)?.revokedAt == nil)
        #expect(try store.apiKeys.revoke(id: uuid(), userID: "alice", at: now) == false)

        #expect(try store.apiKeys.revoke(id: record.id, userID: "alice", at: now))
        // Revoking twice: nothing left to revoke, and the first time stays.
        #expect(try store.apiKeys.revoke(id: record.id, userID: "alice", at: now.adding(seconds: 60)) == false)
        #expect(try store.apiKeys.find(keyHash: record.keyHash)?.revokedAt == now)
    }

    @Test func listIsNewestFirstWithTotal() throws {
        let store = try TemporaryDirectory().migratedStore()
        let base: Int64 = 1_766_000_000_000
        // Inserted out of order on purpose.
        for index in [3, 0, 4, 1, 2] {
            try store.apiKeys.insert(
                keyRecord(userID: "alice", name: "k\(index)", createdAt: Timestamp(millisecondsSinceEpoch: base + Int64(index) * 1000)))
        }
        try store.apiKeys.insert(
            keyRecord(
                userID: "alice", name: "gone", createdAt: Timestamp(millisecondsSinceEpoch: base + 10_000),
                revokedAt: Timestamp(millisecondsSinceEpoch: base + 20_000)))
        try store.apiKeys.insert(keyRecord(userID: "bob", name: "k9", createdAt: Timestamp(millisecondsSinceEpoch: base + 9000)))

        let all = try store.apiKeys.list(userID: "alice", limit: 50, offset: 0)
        #expect(all.keys.map(\.name) == ["k4", "k3", "k2", "k1", "k0"])
        #expect(all.total == 5)

        let page = try store.apiKeys.list(userID: "alice", limit: 2, offset: 1)
        #expect(page.keys.map(\.name) == ["k3", "k2"])
        #expect(page.total == 5)

        let past = try store.apiKeys.list(userID: "alice", limit: 2, offset: 5)
        #expect(past.keys.isEmpty)
        #expect(past.total == 5)

        let nobody = try store.apiKeys.list(userID: "carol", limit: 10, offset: 0)
        #expect(nobody.keys.isEmpty && nobody.total == 0)
    }

    @Test func listBreaksTimeTiesDeterministically() throws {
        let store = try TemporaryDirectory().migratedStore()
        let same = Timestamp(millisecondsSinceEpoch: 1_766_000_000_000)
        for index in 0..<6 { try store.apiKeys.insert(keyRecord(userID: "alice", name: "t\(index)", createdAt: same)) }
        let whole = try store.apiKeys.list(userID: "alice", limit: 6, offset: 0).keys.map(\.id)
        let paged = try (0..<3).flatMap { try store.apiKeys.list(userID: "alice", limit: 2, offset: $0 * 2).keys.map(\.id) }
        #expect(paged == whole)
        #expect(Set(whole).count == 6)
    }

    @Test func recordUsageAddsUp() throws {
        let store = try TemporaryDirectory().migratedStore()
        let a = keyRecord(userID: "alice", name: "a")
        let b = keyRecord(userID: "alice", name: "b")
        try store.apiKeys.insert(a)
        try store.apiKeys.insert(b)
        let t1 = Timestamp(millisecondsSinceEpoch: 1_766_000_010_000)
        let t2 = Timestamp(millisecondsSinceEpoch: 1_766_000_020_000)

        try store.apiKeys.recordUsage([APIKeyUsage(keyID: a.id, requests: 3, lastUsedAt: t1), APIKeyUsage(keyID: b.id, requests: 1, lastUsedAt: t1)])
        try store.apiKeys.recordUsage([APIKeyUsage(keyID: a.id, requests: 4, lastUsedAt: t2)])
        // An older timestamp never moves last_used_at back.
        try store.apiKeys.recordUsage([APIKeyUsage(keyID: a.id, requests: 2, lastUsedAt: t1)])
        // Unknown keys and empty batches are harmless.
        try store.apiKeys.recordUsage([APIKeyUsage(keyID: uuid(), requests: 5, lastUsedAt: t2)])
        try store.apiKeys.recordUsage([])

        let storedA = try #require(try store.apiKeys.find(keyHash: a.keyHash))
        #expect(storedA.requestCount == 9)
        #expect(storedA.lastUsedAt == t2)
        let storedB = try #require(try store.apiKeys.find(keyHash: b.keyHash))
        #expect(storedB.requestCount == 1)
        #expect(storedB.lastUsedAt == t1)
        // Listing shows the same counters.
        let listed = try store.apiKeys.list(userID: "alice", limit: 10, offset: 0).keys
        #expect(Set(listed.map(\.requestCount)) == [9, 1])
    }

    // MARK: Training jobs

    @Test func statusCountsPerUser() throws {
        let store = try TemporaryDirectory().migratedStore()
        let counts: [JobStatus: Int] = [.pending: 2, .running: 1, .paused: 3, .completed: 4, .failed: 1]
        try store.trainingJobs.insert(counts.flatMap { status, count in (0..<count).map { _ in job(userID: "alice", status: status) } })
        try store.trainingJobs.insert(JobStatus.allCases.map { job(userID: "bob", status: $0) })

        let alice = try store.trainingJobs.statusCounts(userID: "alice")
        for status in JobStatus.allCases { #expect(alice[status] == counts[status] ?? 0, "\(status)") }
        #expect(alice[.cancelled] == 0)
        #expect(alice.total == 11)

        let bob = try store.trainingJobs.statusCounts(userID: "bob")
        #expect(bob.total == JobStatus.allCases.count)
        #expect(try store.trainingJobs.statusCounts(userID: "carol") == JobStatusCounts())
    }

    @Test func jobInsertIsOneTransaction() throws {
        let store = try TemporaryDirectory().migratedStore()
        let duplicate = job(userID: "alice", status: .pending)
        // The second job reuses the first one's id: nothing of the batch is stored.
        #expect(throws: StoreError.self) {
            try store.trainingJobs.insert([duplicate, job(userID: "alice", status: .running), duplicate])
        }
        #expect(try store.trainingJobs.statusCounts(userID: "alice").total == 0)
    }

    @Test func scopesRoundTrip() throws {
        let store = try TemporaryDirectory().migratedStore()
        let record = keyRecord(userID: "alice", name: "every", scopes: Scope.allCases)
        try store.apiKeys.insert(record)
        #expect(try store.apiKeys.find(keyHash: record.keyHash)?.scopes == Scope.allCases)
    }
}

/// Error messages collected from several threads.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    func add(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}
