import Domain

extension APIKeyColumn {
    func value(of key: APIKeyRecord) -> SQLValue {
        switch self {
        case .id: .text(key.id)
        case .userID: .text(key.userID)
        case .name: .text(key.name)
        case .keyHash: .text(key.keyHash)
        case .keyPrefix: .text(key.keyPrefix)
        case .scopes: .text(ScopeList.encode(key.scopes))
        case .createdAt: key.createdAt.sql
        case .lastUsedAt: key.lastUsedAt.sql
        case .requestCount: .integer(key.requestCount)
        case .revokedAt: key.revokedAt.sql
        }
    }
}

/// API keys. `credential(keyHash:)`, on every API-key request's path, is one statement on the unique index;
/// a usage flush is one statement for the whole batch on PostgreSQL.
final class SQLAPIKeyStore<Database: SQLDatabase>: APIKeyStore {
    private typealias Column = APIKeyColumn
    private let database: Database
    private let insertRow: String
    private let selectByHash: String
    private let selectCredentialByHash: String
    private let selectPage: String
    private let countActive: String
    private let revokeActive: String
    /// Adds a usage batch, summed per key first: an UPDATE … FROM changes a row once however many batch rows
    /// join it.
    private let addUsage: String

    init(database: Database) {
        self.database = database
        let sql = database.dialect
        insertRow = "INSERT INTO api_keys (\(sql.names(Column.self))) VALUES (\(sql.parameters(Column.self)))"
        selectByHash = "SELECT \(sql.selectList(Column.self)) FROM api_keys WHERE key_hash = $1"
        selectCredentialByHash = "SELECT id, user_id, key_hash, scopes, revoked_at IS NOT NULL FROM api_keys WHERE key_hash = $1"
        selectPage = """
            SELECT \(sql.selectList(Column.self)) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL
            ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3
            """
        countActive = "SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL"
        revokeActive = "UPDATE api_keys SET revoked_at = \(sql.timestamp(1)) WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL"
        let added = sql.rows([BatchColumn("id", .uuid), BatchColumn("requests", .integer), BatchColumn("last_used_at", .timestamp)])
        addUsage = """
            UPDATE api_keys SET request_count = api_keys.request_count + added.requests,
                last_used_at = \(sql.greatest("api_keys.last_used_at", "added.last_used_at"))
            FROM (\(added)) AS added
            WHERE api_keys.id = added.id
            """
    }

    func insert(_ key: APIKeyRecord) throws {
        guard database.dialect.canName(key.id) else { throw StoreError.failed("api key id \(key.id) is not a lowercase UUID") }
        _ = try database.write { connection in
            try connection.run(insertRow, Column.allCases.map { $0.value(of: key) })
        }
    }

    func find(keyHash: String) throws -> APIKeyRecord? {
        try database.read { connection in
            try connection.first(selectByHash, [.text(keyHash)], APIKeyRecord.init(row:))
        }
    }

    @_specialize(where Database == SQLiteDatabase)
    @_specialize(where Database == PostgreSQLDatabase)
    func credential(keyHash: String) throws -> APIKeyCredential? {
        try database.read { connection in
            try connection.first(selectCredentialByHash, [.text(keyHash)]) { row in
                APIKeyCredential(id: row.string(0), userID: row.string(1), keyHash: row.string(2), scopes: row.scopes(3), isRevoked: row.bool(4))
            }
        }
    }

    func list(userID: String, limit: Int, offset: Int) throws -> (keys: [APIKeyRecord], total: Int) {
        try database.snapshot { connection in
            var keys: [APIKeyRecord] = []
            try connection.query(selectPage, [.text(userID), database.dialect.limit(limit), .integer(Int64(offset))]) {
                keys.append(APIKeyRecord(row: $0))
            }
            let total = try connection.first(countActive, [.text(userID)]) { Int($0.int(0)) } ?? 0
            return (keys, total)
        }
    }

    func revoke(id: String, userID: String, at time: Timestamp) throws -> Bool {
        guard database.dialect.canName(id) else { return false }
        return try database.write { connection in
            try connection.run(revokeActive, [time.sql, .text(id), .text(userID)]) == 1
        }
    }

    @_specialize(where Database == SQLiteDatabase)
    @_specialize(where Database == PostgreSQLDatabase)
    func recordUsage(_ usage: [APIKeyUsage]) throws {
        // An id that can name no key is dropped like any unknown key, instead of failing the batch.
        var byKey: [String: (requests: Int64, lastUsedAt: Timestamp)] = [:]
        for entry in usage where database.dialect.canName(entry.keyID) {
            let summed = byKey[entry.keyID].map { ($0.requests.addingSaturated(entry.requests), max($0.lastUsedAt, entry.lastUsedAt)) }
            byKey[entry.keyID] = summed ?? (entry.requests, entry.lastUsedAt)
        }
        guard !byKey.isEmpty else { return }
        let rows = byKey.sorted { $0.key < $1.key }.map { [SQLValue.text($0.key), .integer($0.value.requests), $0.value.lastUsedAt.sql] }
        _ = try database.write { connection in
            try connection.run(addUsage, fixed: [], rows: rows)
        }
    }
}
