public import Domain
public import Essentials

/// The production store: PostgreSQL through libpq, with a bounded pool of
/// connections per process. Several pool hosts share one database.
public final class PostgreSQLStore: TableBackedStore {
    private let database: PostgreSQLDatabase
    public let tables: StoreTables

    /// A store on `configuration`; connections are opened when first needed.
    public init(configuration: PostgreSQLConfiguration) throws(StoreError) {
        guard PostgreSQLConfiguration.isValidSchema(configuration.schema) else {
            throw .failed("DATABASE_SCHEMA must be a lowercase identifier ([a-z_][a-z0-9_]*), not \(configuration.schema)")
        }
        database = PostgreSQLDatabase(configuration: configuration)
        tables = StoreTables(database: database)
    }

    /// The schema version this build migrates to.
    public static var latestSchemaVersion: Int { PostgreSQLMigrations.latestVersion }

    /// Connections this process holds now.
    public var openConnections: Int { database.openConnections }

    /// Creates the schema when missing and applies the steps not yet applied, all in one transaction that
    /// first takes a transaction-level advisory lock: hosts that start at once migrate exactly once, a failed
    /// step leaves nothing behind, and nothing outlives the transaction (so it works through pgbouncer in
    /// transaction mode). A step must therefore be one that can run in a transaction block.
    public func migrate() throws {
        // A connection of its own, outside the pool: a long migration holds no request's place.
        let connection = try database.connect()
        var attempt = 1
        while true {
            do {
                return try migrate(on: connection)
            } catch let error as PostgreSQLError where attempt < 3 && Self.lostCreationRace(error) {
                // The schema or table that another host created while this one waited for the lock: a
                // name looked up before the wait (the search path) stays cached as missing until the
                // next transaction, which sees it.
                attempt += 1
            } catch let error as PostgreSQLError {
                throw StoreError.failed("migration: \(error)")
            }
        }
    }

    /// A unique violation in the catalog, or a schema or table that already exists.
    private static func lostCreationRace(_ error: PostgreSQLError) -> Bool {
        error.isUniqueViolation || error.sqlState == "42P06" || error.sqlState == "42P07"
    }

    private func migrate(on connection: PostgreSQLConnection) throws {
        let schema = PostgreSQLSchema.quoted(database.configuration.schema)
        do {
            try connection.execute(
                """
                BEGIN;
                SET LOCAL search_path TO \(schema);
                SET LOCAL client_min_messages TO warning;
                SELECT pg_advisory_xact_lock(\(Self.migrationLock));
                CREATE SCHEMA IF NOT EXISTS \(schema);
                CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """
            )
            let current = try connection.first("SELECT coalesce(max(version), 0) FROM schema_migrations") { Int($0.int(0)) } ?? 0
            if current > PostgreSQLMigrations.latestVersion {
                throw StoreError.schemaTooNew(found: current, known: PostgreSQLMigrations.latestVersion)
            }
            for step in PostgreSQLMigrations.steps where step.version > current {
                try connection.execute(step.sql)
                try connection.run("INSERT INTO schema_migrations (version) VALUES ($1)", [.integer(Int64(step.version))])
            }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// The advisory lock key of migrations ("ftapimig" in ASCII).
    static let migrationLock: Int64 = 0x6674_6170_696d_6967

    public func schemaVersion() throws -> Int {
        try database.read { connection in
            let exists = try connection.first("SELECT to_regclass('schema_migrations') IS NOT NULL") { $0.bool(0) } ?? false
            guard exists else { return 0 }
            return try connection.first("SELECT coalesce(max(version), 0) FROM schema_migrations") { Int($0.int(0)) } ?? 0
        }
    }

    public func ping() throws {
        _ = try database.read { try $0.first("SELECT 1") { $0.int(0) } }
    }

    /// Drops the schema and everything in it (tests: each test database is a schema of its own).
    public func dropSchema() throws {
        let connection = try database.connect()
        do {
            try connection.execute(
                "BEGIN; SET LOCAL client_min_messages TO warning; DROP SCHEMA IF EXISTS \(PostgreSQLSchema.quoted(database.configuration.schema)) CASCADE; COMMIT"
            )
        } catch {
            throw StoreError.failed("drop schema: \(error)")
        }
    }

    public func scope<T>(_ clock: RequestClock?, _ body: () throws -> T) rethrows -> T {
        try database.scope(clock, body)
    }
}
