import Domain
public import Essentials

/// The embedded default store: one SQLite file in WAL mode, shared safely by
/// every thread and every worker process.
public final class SQLiteStore: TableBackedStore {
    private let database: SQLiteDatabase
    public let tables: StoreTables

    public init(configuration: SQLiteConfiguration) {
        database = SQLiteDatabase(configuration: configuration)
        tables = StoreTables(database: database)
    }

    /// The schema version this build migrates to.
    public static var latestSchemaVersion: Int { SQLiteMigrations.latestVersion }

    public func migrate() throws {
        // Several processes may migrate one file at once (tests, a second master on the same DATA_DIR):
        // the later ones wait for the first however long its DDL and fsyncs take.
        try database.write(waitingUpTo: 120) { connection in
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
        try database.snapshot { connection in
            let exists =
                try connection.first(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
                ) { $0.int(0) } ?? 0
            guard exists > 0 else { return 0 }
            return try connection.first("SELECT coalesce(max(version), 0) FROM schema_migrations") { Int($0.int(0)) } ?? 0
        }
    }

    /// Runs one request's work: its reads share one read transaction (see `SQLiteDatabase.scope`).
    public func scope<T>(_ clock: RequestClock?, _ body: () throws -> T) rethrows -> T { try database.scope(clock, body) }

    public func ping() throws {
        _ = try database.read { try $0.first("SELECT 1") { $0.int(0) } }
    }
}
