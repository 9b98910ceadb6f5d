import Domain
public import Essentials

#if canImport(Glibc)
import Glibc
#endif

/// The embedded default store: one SQLite file in WAL mode, shared safely by
/// every thread and every worker process.
public final class SQLiteStore: TableBackedStore {
    private let database: SQLiteDatabase
    private let configuration: SQLiteConfiguration
    public let tables: StoreTables

    public init(configuration: SQLiteConfiguration) {
        self.configuration = configuration
        database = SQLiteDatabase(configuration: configuration)
        tables = StoreTables(database: database)
    }

    /// The size of the database's WAL file now: 0 when it has none.
    public static func walBytes(databasePath: String) -> Int64 {
        var info = stat()
        return stat(databasePath + "-wal", &info) == 0 ? Int64(info.st_size) : 0
    }

    /// What a checkpoint of the WAL found and left.
    public struct WALCheckpoint: Sendable, Equatable {
        public var bytesBefore: Int64
        public var bytesAfter: Int64
        /// A reader (a request's snapshot) or a writer kept the checkpoint from reaching the WAL's end.
        public var blocked: Bool
    }

    /// The WAL's safety net: when the WAL has grown past `SQLiteConfiguration.walLimitBytes` (the automatic
    /// checkpoints could not reset it: a long reader held an old snapshot), checkpoints it to its end and truncates
    /// it, waiting at most 100 ms for readers and writers (a longer wait would hold every writer back meanwhile).
    /// Nil when the WAL is within the limit.
    public func checkpointWAL() throws -> WALCheckpoint? {
        let before = Self.walBytes(databasePath: configuration.path)
        guard before > configuration.walLimitBytes else { return nil }
        var settings = configuration
        settings.busyTimeoutMilliseconds = 100
        let connection = try SQLiteConnection(configuration: settings)
        let busy = try connection.first("PRAGMA wal_checkpoint(TRUNCATE)") { $0.int(0) } ?? 1
        return WALCheckpoint(bytesBefore: before, bytesAfter: Self.walBytes(databasePath: configuration.path), blocked: busy != 0)
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
