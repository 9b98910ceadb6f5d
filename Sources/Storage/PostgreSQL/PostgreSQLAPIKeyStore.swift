import Domain
import Essentials

extension APIKeyColumn: PostgreSQLTableColumn {
    func postgresValue(of key: APIKeyRecord) -> PostgreSQLValue {
        switch self {
        case .id: .text(key.id)
        case .userID: .text(key.userID)
        case .name: .text(key.name)
        case .keyHash: .text(key.keyHash)
        case .keyPrefix: .text(key.keyPrefix)
        case .scopes: .text(ScopeList.encode(key.scopes))
        case .createdAt: .integer(key.createdAt.millisecondsSinceEpoch)
        case .lastUsedAt: key.lastUsedAt.postgres
        case .requestCount: .integer(key.requestCount)
        case .revokedAt: key.revokedAt.postgres
        }
    }
}

/// API keys in PostgreSQL. `credential(keyHash:)`, on every request's path, is one statement on the unique index;
/// usage batches are one statement each.
final class PostgreSQLAPIKeyStore: APIKeyStore {
    private typealias Column = APIKeyColumn
    private let database: PostgreSQLDatabase

    init(database: PostgreSQLDatabase) { self.database = database }

    private static let insertRow = "INSERT INTO api_keys (\(Column.names)) VALUES (\(Column.parameters))"
    private static let selectByHash = "SELECT \(Column.selectList) FROM api_keys WHERE key_hash = $1"
    private static let selectCredentialByHash =
        "SELECT id, user_id, key_hash, scopes, revoked_at IS NOT NULL FROM api_keys WHERE key_hash = $1"
    private static let selectPage = """
        SELECT \(Column.selectList) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL
        ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3
        """
    private static let countActive = "SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL"
    private static let revokeActive = """
        UPDATE api_keys SET revoked_at = \(PostgreSQLSchema.timestamp(1)) WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL
        """
    /// The whole batch in one statement. Usage is summed per key first: an UPDATE … FROM changes a row once however
    /// many batch rows join it, where SQLite's statement per entry adds every one. `greatest` skips a NULL
    /// `last_used_at`, so a first use sets it.
    private static let addUsage = """
        UPDATE api_keys SET request_count = api_keys.request_count + added.requests,
            last_used_at = greatest(api_keys.last_used_at, added.last_used_at)
        FROM (
            SELECT id, sum(requests)::int8 AS requests, to_timestamp(max(last_used)::float8 / 1000) AS last_used_at
            FROM unnest($1::uuid[], $2::int8[], $3::int8[]) AS batch (id, requests, last_used) GROUP BY id
        ) AS added
        WHERE api_keys.id = added.id
        """

    func insert(_ key: APIKeyRecord) throws {
        guard isCanonicalUUID(key.id) else { throw StoreError.failed("api key id \(key.id) is not a lowercase UUID") }
        _ = try database.write { connection in
            try connection.run(Self.insertRow, Column.allCases.map { $0.postgresValue(of: key) })
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
                    id: row.string(0), userID: row.string(1), keyHash: row.string(2), scopes: ScopeList.decode(row.string(3)),
                    isRevoked: row.bool(4)
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
        guard isCanonicalUUID(id) else { return false }
        return try database.write { connection in
            try connection.run(Self.revokeActive, [.integer(time.millisecondsSinceEpoch), .text(id), .text(userID)]) == 1
        }
    }

    func recordUsage(_ usage: [APIKeyUsage]) throws {
        // An id that is no UUID names no key: dropped like any unknown key, instead of failing the batch's cast.
        let known = usage.filter { isCanonicalUUID($0.keyID) }
        guard !known.isEmpty else { return }
        let ids = Self.array(known.map(\.keyID))
        let requests = Self.array(known.map { String($0.requests) })
        let times = Self.array(known.map { String($0.lastUsedAt.millisecondsSinceEpoch) })
        _ = try database.write { connection in
            try connection.run(Self.addUsage, [.text(ids), .text(requests), .text(times)])
        }
    }

    /// An array parameter in PostgreSQL's text form, `{a,b,c}`, for elements that need no quoting (UUIDs, integers).
    private static func array(_ elements: [String]) -> String {
        "{" + elements.joined(separator: ",") + "}"
    }
}
