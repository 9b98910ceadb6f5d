import Domain

extension APIKeyColumn: SQLiteColumn {
    var sql: String { name }

    func sqliteValue(of key: APIKeyRecord) -> SQLiteValue {
        switch self {
        case .id: .text(key.id)
        case .userID: .text(key.userID)
        case .name: .text(key.name)
        case .keyHash: .text(key.keyHash)
        case .keyPrefix: .text(key.keyPrefix)
        case .scopes: .text(ScopeList.encode(key.scopes))
        case .createdAt: .integer(key.createdAt.millisecondsSinceEpoch)
        case .lastUsedAt: key.lastUsedAt.sqlite
        case .requestCount: .integer(key.requestCount)
        case .revokedAt: key.revokedAt.sqlite
        }
    }
}

final class SQLiteAPIKeyStore: APIKeyStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let insertRow = "INSERT INTO api_keys (\(APIKeyColumn.list)) VALUES (\(APIKeyColumn.placeholders))"
    private static let selectByHash = "SELECT \(APIKeyColumn.list) FROM api_keys WHERE key_hash = ?"
    private static let selectCredentialByHash =
        "SELECT id, user_id, key_hash, scopes, revoked_at IS NOT NULL FROM api_keys WHERE key_hash = ?"
    private static let selectPage = """
        SELECT \(APIKeyColumn.list) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL
        ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?
        """
    private static let countActive = "SELECT count(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL"

    func insert(_ key: APIKeyRecord) throws {
        _ = try database.write { connection in
            try connection.run(Self.insertRow, APIKeyColumn.allCases.map { $0.sqliteValue(of: key) })
        }
    }

    func find(keyHash: String) throws -> APIKeyRecord? {
        try database.read { connection in
            try connection.first(Self.selectByHash, [.text(keyHash)], APIKeyRecord.init(row:))
        }
    }

    func credential(keyHash: String) throws -> APIKeyCredential? {
        try database.read { connection in
            try connection.first(Self.selectCredentialByHash, [.text(keyHash)]) { row in
                APIKeyCredential(
                    id: row.string(0), userID: row.string(1), keyHash: row.string(2),
                    scopes: row.withText(3) { ScopeList.decode(utf8: $0) }, isRevoked: row.int(4) != 0
                )
            }
        }
    }

    func list(userID: String, limit: Int, offset: Int) throws -> (keys: [APIKeyRecord], total: Int) {
        try database.snapshot { connection in
            var keys: [APIKeyRecord] = []
            try connection.query(Self.selectPage, [.text(userID), .integer(Int64(limit)), .integer(Int64(offset))]) {
                keys.append(APIKeyRecord(row: $0))
            }
            let total = try connection.first(Self.countActive, [.text(userID)]) { Int($0.int(0)) } ?? 0
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
