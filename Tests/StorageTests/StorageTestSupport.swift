import Foundation
import Storage
import Testing

/// A temporary directory removed when the value goes away.
final class TemporaryDirectory: @unchecked Sendable {
    // @unchecked: immutable after init.
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/ftapi-storage-XXXXXX").utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let result else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: result)
    }

    var databasePath: String { path + "/t.db" }

    func store() -> SQLiteStore {
        SQLiteStore(configuration: SQLiteConfiguration(path: databasePath))
    }

    /// A store on a fresh, migrated database.
    func migratedStore() throws -> SQLiteStore {
        let store = store()
        try store.migrate()
        return store
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func uuid() -> String { UUID().uuidString.lowercased() }

/// A key record with a unique (fake) hash; the store never sees the key itself.
func keyRecord(
    userID: String, name: String, createdAt: Timestamp = Timestamp(millisecondsSinceEpoch: 1_766_000_000_000),
    scopes: [Scope] = [.all], revokedAt: Timestamp? = nil
) -> APIKeyRecord {
    let hash = (uuid() + uuid()).replacingOccurrences(of: "-", with: "")
    return APIKeyRecord(
        id: uuid(), userID: userID, name: name, keyHash: hash, keyPrefix: "wak_" + String(hash.prefix(8)), scopes: scopes,
        createdAt: createdAt, revokedAt: revokedAt
    )
}

func job(userID: String, status: JobStatus, createdAt: Timestamp = Timestamp(millisecondsSinceEpoch: 1_766_000_000_000)) -> TrainingJob {
    TrainingJob(id: uuid(), userID: userID, modelName: "model", status: status, createdAt: createdAt)
}
