import Domain
import Testing

/// `APIKeyStore` as every backend implements it.
@Suite("APIKeyStore conformance")
struct APIKeyStoreConformance {
    @Test(arguments: StoreBackend.all)
    func insertedKeyIsFoundWhole(_ backend: StoreBackend) throws {
        try backend.withDatabase { database in
            let store = try database.open()
            var record = keyRecord(userID: "alice", name: "full", scopes: Scope.allCases)
            record.lastUsedAt = instant(5)
            record.requestCount = 42
            let partial = keyRecord(userID: "alice", name: "partial", scopes: [.training, .analytics])
            try store.apiKeys.insert(record)
            try store.apiKeys.insert(partial)

            #expect(try store.apiKeys.find(keyHash: record.keyHash) == record)
            #expect(try store.apiKeys.find(keyHash: partial.keyHash) == partial)
            #expect(try store.apiKeys.find(keyHash: String(repeating: "0", count: 64)) == nil)
            #expect(try store.apiKeys.find(keyHash: "") == nil)
            // Another store object (another worker process) sees the same record.
            #expect(try database.open().apiKeys.find(keyHash: record.keyHash) == record)

            // What authentication reads: the same key, in brief.
            for key in [record, partial] {
                let expected = APIKeyCredential(id: key.id, userID: key.userID, keyHash: key.keyHash, scopes: key.scopes, isRevoked: false)
                #expect(try store.apiKeys.credential(keyHash: key.keyHash) == expected)
            }
            #expect(try store.apiKeys.credential(keyHash: String(repeating: "0", count: 64)) == nil)
        }
    }

    @Test(arguments: StoreBackend.all)
    func activeNameIsTakenUntilRevoked(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let first = keyRecord(userID: "alice", name: "ci")
            try store.apiKeys.insert(first)
            #expect(performing: { try store.apiKeys.insert(keyRecord(userID: "alice", name: "ci")) }, throws: isDuplicate)
            // Another user may use the name, and a revoked key holds no name.
            try store.apiKeys.insert(keyRecord(userID: "bob", name: "ci"))
            try store.apiKeys.insert(keyRecord(userID: "alice", name: "ci", revokedAt: instant(1)))

            #expect(try store.apiKeys.revoke(id: first.id, userID: "alice", at: instant(10)))
            let second = keyRecord(userID: "alice", name: "ci")
            try store.apiKeys.insert(second)
            #expect(performing: { try store.apiKeys.insert(keyRecord(userID: "alice", name: "ci")) }, throws: isDuplicate)
            #expect(try store.apiKeys.list(userID: "alice", limit: 10, offset: 0).keys.map(\.id) == [second.id])
        }
    }

    @Test(arguments: StoreBackend.all)
    func duplicateHashIsRefused(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let first = keyRecord(userID: "alice", name: "a")
            try store.apiKeys.insert(first)
            var clash = keyRecord(userID: "bob", name: "b")
            clash.keyHash = first.keyHash
            #expect(performing: { try store.apiKeys.insert(clash) }, throws: isDuplicate)
            #expect(try store.apiKeys.find(keyHash: first.keyHash) == first)
        }
    }

    @Test(arguments: StoreBackend.all)
    func revokeOnlyOwnActiveKey(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let record = keyRecord(userID: "alice", name: "mine")
            try store.apiKeys.insert(record)

            #expect(try store.apiKeys.revoke(id: record.id, userID: "mallory", at: instant(10)) == false)
            #expect(try store.apiKeys.find(keyHash: record.keyHash)?.revokedAt == nil)
            #expect(try store.apiKeys.credential(keyHash: record.keyHash)?.isRevoked == false)
            #expect(try store.apiKeys.revoke(id: uuid(), userID: "alice", at: instant(10)) == false)

            #expect(try store.apiKeys.revoke(id: record.id, userID: "alice", at: instant(10)))
            // Revoking twice: nothing left to revoke, and the first time stays. A revoked key is still found.
            #expect(try store.apiKeys.revoke(id: record.id, userID: "alice", at: instant(70)) == false)
            #expect(try store.apiKeys.find(keyHash: record.keyHash)?.revokedAt == instant(10))
            #expect(try store.apiKeys.credential(keyHash: record.keyHash)?.isRevoked == true)
        }
    }

    @Test(arguments: StoreBackend.all)
    func listIsNewestFirstWithTotal(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            // Inserted out of order on purpose.
            for index in [3, 0, 4, 1, 2] {
                try store.apiKeys.insert(keyRecord(userID: "alice", name: "k\(index)", createdAt: instant(Double(index))))
            }
            try store.apiKeys.insert(keyRecord(userID: "alice", name: "gone", createdAt: instant(10), revokedAt: instant(20)))
            try store.apiKeys.insert(keyRecord(userID: "bob", name: "k9", createdAt: instant(9)))

            let all = try store.apiKeys.list(userID: "alice", limit: 50, offset: 0)
            #expect(all.keys.map(\.name) == ["k4", "k3", "k2", "k1", "k0"])
            #expect(all.total == 5)

            let page = try store.apiKeys.list(userID: "alice", limit: 2, offset: 1)
            #expect(page.keys.map(\.name) == ["k3", "k2"])
            #expect(page.total == 5)

            let past = try store.apiKeys.list(userID: "alice", limit: 2, offset: 5)
            #expect(past.keys.isEmpty && past.total == 5)

            let nobody = try store.apiKeys.list(userID: "carol", limit: 10, offset: 0)
            #expect(nobody.keys.isEmpty && nobody.total == 0)
        }
    }

    @Test(arguments: StoreBackend.all)
    func listBreaksTimeTiesDeterministically(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            for index in 0..<6 { try store.apiKeys.insert(keyRecord(userID: "alice", name: "t\(index)")) }
            let whole = try store.apiKeys.list(userID: "alice", limit: 6, offset: 0).keys.map(\.id)
            let paged = try (0..<3).flatMap { try store.apiKeys.list(userID: "alice", limit: 2, offset: $0 * 2).keys.map(\.id) }
            #expect(paged == whole)
            #expect(Set(whole).count == 6)
        }
    }

    @Test(arguments: StoreBackend.all)
    func recordUsageAddsUp(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let a = keyRecord(userID: "alice", name: "a")
            let b = keyRecord(userID: "alice", name: "b")
            try store.apiKeys.insert(a)
            try store.apiKeys.insert(b)

            try store.apiKeys.recordUsage([
                APIKeyUsage(keyID: a.id, requests: 3, lastUsedAt: instant(10)), APIKeyUsage(keyID: b.id, requests: 1, lastUsedAt: instant(10)),
            ])
            try store.apiKeys.recordUsage([APIKeyUsage(keyID: a.id, requests: 4, lastUsedAt: instant(20))])
            // An older time never moves last_used_at back.
            try store.apiKeys.recordUsage([APIKeyUsage(keyID: a.id, requests: 2, lastUsedAt: instant(10))])
            // Unknown keys and empty batches are harmless.
            try store.apiKeys.recordUsage([APIKeyUsage(keyID: uuid(), requests: 5, lastUsedAt: instant(20))])
            try store.apiKeys.recordUsage([])

            let storedA = try #require(try store.apiKeys.find(keyHash: a.keyHash))
            #expect(storedA.requestCount == 9 && storedA.lastUsedAt == instant(20))
            let storedB = try #require(try store.apiKeys.find(keyHash: b.keyHash))
            #expect(storedB.requestCount == 1 && storedB.lastUsedAt == instant(10))
            let listed = try store.apiKeys.list(userID: "alice", limit: 10, offset: 0).keys
            #expect(Set(listed.map(\.requestCount)) == [9, 1])
        }
    }

    @Test(arguments: StoreBackend.all)
    func recordUsageAddsEveryEntryOfAKey(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let key = keyRecord(userID: "alice", name: "twice")
            try store.apiKeys.insert(key)
            try store.apiKeys.recordUsage([
                APIKeyUsage(keyID: key.id, requests: 3, lastUsedAt: instant(20)), APIKeyUsage(keyID: key.id, requests: 4, lastUsedAt: instant(10)),
            ])
            let stored = try #require(try store.apiKeys.find(keyHash: key.keyHash))
            #expect(stored.requestCount == 7 && stored.lastUsedAt == instant(20))
        }
    }

    @Test(arguments: StoreBackend.all)
    func idsOtherThanAStoredOneNameNoKey(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let key = keyRecord(userID: "alice", name: "mine")
            try store.apiKeys.insert(key)
            let others = ["", "x", key.id.uppercased(), "{\(key.id)}", key.id.replacingOccurrences(of: "-", with: ""), key.id + " "]
            for id in others {
                #expect(try store.apiKeys.revoke(id: id, userID: "alice", at: instant(1)) == false, "\(id)")
            }
            // Their usage is dropped like an unknown key's; the rest of the batch counts.
            try store.apiKeys.recordUsage(
                others.map { APIKeyUsage(keyID: $0, requests: 5, lastUsedAt: instant(30)) } + [
                    APIKeyUsage(keyID: key.id, requests: 2, lastUsedAt: instant(10))
                ]
            )
            let stored = try #require(try store.apiKeys.find(keyHash: key.keyHash))
            #expect(stored.requestCount == 2 && stored.lastUsedAt == instant(10) && stored.revokedAt == nil)
        }
    }

    @Test(arguments: StoreBackend.all)
    func timesKeepTheirMilliseconds(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            let created = Timestamp(millisecondsSinceEpoch: 1_766_000_000_001)
            var key = keyRecord(userID: "alice", name: "ms", createdAt: created, revokedAt: Timestamp(millisecondsSinceEpoch: 1_766_000_000_999))
            key.lastUsedAt = Timestamp(millisecondsSinceEpoch: 1_766_000_000_123)
            try store.apiKeys.insert(key)
            #expect(try store.apiKeys.find(keyHash: key.keyHash) == key)
            let later = keyRecord(userID: "alice", name: "later", createdAt: Timestamp(millisecondsSinceEpoch: 1_766_000_000_002))
            try store.apiKeys.insert(later)
            try store.apiKeys.recordUsage([
                APIKeyUsage(keyID: later.id, requests: 1, lastUsedAt: Timestamp(millisecondsSinceEpoch: 1_766_000_000_457))
            ])
            #expect(try store.apiKeys.find(keyHash: later.keyHash)?.lastUsedAt == Timestamp(millisecondsSinceEpoch: 1_766_000_000_457))
            #expect(try store.apiKeys.revoke(id: later.id, userID: "alice", at: Timestamp(millisecondsSinceEpoch: 1_766_000_000_789)))
            #expect(try store.apiKeys.find(keyHash: later.keyHash)?.revokedAt == Timestamp(millisecondsSinceEpoch: 1_766_000_000_789))
        }
    }
}
