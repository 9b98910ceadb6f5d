/// The embedded default store: one SQLite file in WAL mode, shared safely by
/// every thread and every worker process.
public final class SQLiteStore: Store {
    private let database: SQLiteDatabase
    public let apiKeys: any APIKeyStore
    public let trainingJobs: any TrainingJobStore
    public let datasets: any DatasetStore
    public let analytics: any AnalyticsStore
    public let notificationPreferences: any NotificationPreferencesStore

    public init(configuration: SQLiteConfiguration) {
        database = SQLiteDatabase(configuration: configuration)
        apiKeys = SQLiteAPIKeyStore(database: database)
        trainingJobs = SQLiteTrainingJobStore(database: database)
        datasets = SQLiteDatasetStore(database: database)
        analytics = SQLiteAnalyticsStore(database: database)
        notificationPreferences = SQLiteNotificationPreferencesStore(database: database)
    }

    /// The schema version this build migrates to.
    public static var latestSchemaVersion: Int { SQLiteMigrations.latestVersion }

    public func migrate() throws {
        try database.write { connection in
            try connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            let current = try connection.first("SELECT coalesce(max(version), 0) FROM schema_migrations") { Int($0.int(0)) } ?? 0
            if current > SQLiteMigrations.latestVersion {
                throw StoreError.schemaTooNew(found: current, known: SQLiteMigrations.latestVersion)
            }
            for step in SQLiteMigrations.steps where step.version > current {
                try connection.execute(step.sql)
                try connection.run(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    [.integer(Int64(step.version)), .integer(Timestamp.now().millisecondsSinceEpoch)]
                )
            }
        }
    }

    public func schemaVersion() throws -> Int {
        try database.read { connection in
            let exists =
                try connection.first("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'") { $0.int(0) } ?? 0
            guard exists > 0 else { return 0 }
            return try connection.first("SELECT coalesce(max(version), 0) FROM schema_migrations") { Int($0.int(0)) } ?? 0
        }
    }

    public func ping() throws {
        _ = try database.read { try $0.first("SELECT 1") { $0.int(0) } }
    }
}

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
            let total =
                try connection.first("SELECT count(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL", [.text(userID)]) { Int($0.int(0)) }
                ?? 0
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
