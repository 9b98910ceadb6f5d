final class SQLiteAPIKeyStore: APIKeyStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let columns = "id, user_id, name, key_hash, key_prefix, scopes, created_at, last_used_at, request_count, revoked_at"

    private static func record(_ row: SQLiteRow) -> APIKeyRecord {
        APIKeyRecord(
            id: row.string(0), userID: row.string(1), name: row.string(2), keyHash: row.string(3),
            keyPrefix: row.string(4), scopes: ScopeList.decode(row.string(5)), createdAt: row.timestamp(6),
            lastUsedAt: row.optionalTimestamp(7), requestCount: row.int(8), revokedAt: row.optionalTimestamp(9)
        )
    }

    func insert(_ key: APIKeyRecord) throws {
        _ = try database.write { connection in
            try connection.run(
                "INSERT INTO api_keys (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(key.id), .text(key.userID), .text(key.name), .text(key.keyHash), .text(key.keyPrefix),
                    .text(ScopeList.encode(key.scopes)), .integer(key.createdAt.millisecondsSinceEpoch),
                    key.lastUsedAt.sqlite, .integer(key.requestCount), key.revokedAt.sqlite,
                ]
            )
        }
    }

    func find(keyHash: String) throws -> APIKeyRecord? {
        try database.read { connection in
            try connection.first("SELECT \(Self.columns) FROM api_keys WHERE key_hash = ?", [.text(keyHash)], Self.record)
        }
    }

    func list(userID: String, limit: Int, offset: Int) throws -> (keys: [APIKeyRecord], total: Int) {
        try database.read { connection in
            var keys: [APIKeyRecord] = []
            try connection.query(
                "SELECT \(Self.columns) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                [.text(userID), .integer(Int64(limit)), .integer(Int64(offset))]
            ) { keys.append(Self.record($0)) }
            let total = try connection.first("SELECT count(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL", [.text(userID)]) { Int($0.int(0)) } ?? 0
            return (keys, total)
        }
    }

    func revoke(id: String, userID: String, at time: Timestamp) throws -> Bool {
        try database.write { connection in
            try connection.run(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                [.integer(time.millisecondsSinceEpoch), .text(id), .text(userID)]
            ) == 1
        }
    }

    func recordUsage(_ usage: [APIKeyUsage]) throws {
        guard !usage.isEmpty else { return }
        _ = try database.write { connection in
            for entry in usage {
                try connection.run(
                    "UPDATE api_keys SET request_count = request_count + ?, last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?",
                    [.integer(entry.requests), .integer(entry.lastUsedAt.millisecondsSinceEpoch), .text(entry.keyID)]
                )
            }
        }
    }
}
