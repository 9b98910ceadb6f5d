import Domain
import Foundation
import TestDatabases
import Testing

@testable import Storage

/// The tests' migrated databases are made without a migration each (`TestDatabases`): a SQLite copy of the process's
/// template must be the file a migration makes, and a file of its own; a PostgreSQL schema given back must be left
/// migrated and without a row, or dropped.
@Suite("Test databases")
struct TestDatabaseTests {
    /// Every object of the file as SQLite keeps it, its schema version and journal mode.
    static func sqliteSchema(_ path: String) throws -> [String] {
        let connection = try SQLiteConnection(configuration: SQLiteConfiguration(path: path))
        var lines: [String] = []
        try connection.query("SELECT type || ' ' || name || ' ' || tbl_name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name") {
            lines.append($0.string(0))
        }
        try connection.query("SELECT version FROM schema_migrations ORDER BY version") { lines.append("version \($0.int(0))") }
        lines.append("journal " + (try connection.first("PRAGMA journal_mode") { $0.string(0) } ?? ""))
        return lines
    }

    @Test func aSQLiteCopyIsTheFileAMigrationMakes() throws {
        let (migrated, copied) = (try TemporaryDirectory(), try TemporaryDirectory())
        try migrated.store().migrate()
        _ = try copied.migratedStore()
        let expected = try Self.sqliteSchema(migrated.databasePath)
        #expect(expected.contains("version \(SQLiteStore.latestSchemaVersion)") && expected.contains("journal wal"))
        #expect(try Self.sqliteSchema(copied.databasePath) == expected)
        #expect(try copied.store().schemaVersion() == SQLiteStore.latestSchemaVersion)
    }

    @Test func sqliteCopiesAreDatabasesOfTheirOwn() throws {
        let directories = [try TemporaryDirectory(), try TemporaryDirectory(), try TemporaryDirectory()]
        let (first, second) = (try directories[0].migratedStore(), try directories[1].migratedStore())
        try first.trainingJobs.insert([job(userID: "alice", status: .running)])
        #expect(try first.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts([.running: 1]))
        #expect(try second.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts())
        // A copy made after another was written to is the template's, not the other's.
        #expect(try directories[2].migratedStore().trainingJobs.statusCounts(userID: "alice") == JobStatusCounts())
        withExtendedLifetime(directories) {}
    }

    // MARK: PostgreSQL

    /// Rows in each table of `schema` but `schema_migrations`, by table.
    static func rowCounts(_ configuration: PostgreSQLConfiguration) throws -> [String: Int64] {
        let connection = try PostgreSQLConnection(conninfo: configuration.url, schema: configuration.schema, mode: configuration.poolMode)
        var tables: [String] = []
        try connection.query(
            "SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r' AND relname <> 'schema_migrations'",
            [.text(configuration.schema)]
        ) { tables.append($0.string(0)) }
        var counts: [String: Int64] = [:]
        for table in tables {
            counts[table] = try connection.first("SELECT count(*) FROM \(PostgreSQLSchema.quoted(configuration.schema)).\(table)") { $0.int(0) }
        }
        return counts
    }

    static func schemaExists(_ configuration: PostgreSQLConfiguration) throws -> Bool {
        let connection = try PostgreSQLConnection(conninfo: configuration.url, schema: "public", mode: configuration.poolMode)
        return try connection.first("SELECT to_regnamespace($1) IS NOT NULL", [.text(configuration.schema)]) { $0.bool(0) } ?? false
    }

    /// Runs `sql` in `configuration.schema`, outside the store.
    static func execute(_ sql: String, in configuration: PostgreSQLConfiguration) throws {
        let connection = try PostgreSQLConnection(conninfo: configuration.url, schema: configuration.schema, mode: configuration.poolMode)
        try connection.execute("SET search_path TO \(PostgreSQLSchema.quoted(configuration.schema)); \(sql); RESET search_path")
    }

    /// A schema taken is migrated; emptied, as giving it back does, it keeps no row of any table, whatever its
    /// test wrote, and stays migrated.
    @Test(.enabled(if: StoreBackend.postgres != nil))
    func aPostgreSQLSchemaIsMigratedAndGivenBackWithoutARow() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        var configuration = StoreBackend.postgresConfiguration(url: url, poolSize: 1)
        try TestDatabases.takePostgreSQLSchema(for: &configuration)
        defer { TestDatabases.givePostgreSQLSchemaBack(configuration) }
        let store = try PostgreSQLStore(configuration: configuration)
        #expect(try store.schemaVersion() == PostgreSQLStore.latestSchemaVersion)
        #expect(try Self.rowCounts(configuration).values.allSatisfy { $0 == 0 }, "a schema taken holds no row")

        // A row in every table.
        let resumed = job(userID: "alice", status: .completed)
        var running = job(userID: "alice", status: .running)
        running.resumedFromJobID = resumed.id
        try store.trainingJobs.insert([resumed, running])
        _ = try store.trainingJobs.appendMetrics(id: running.id, userID: "alice", points: [MetricPoint(step: 1, evalLoss: 0.5)]) { _, _ in }
        _ = try store.trainingLogs.append(jobID: running.id, lines: ["step 1"], keep: 10)
        try store.trainingPredictions.upsert([
            TrainingPrediction(id: uuid(), jobID: running.id, epoch: 1, step: 1, sampleIndex: 0, prompt: "p", prediction: "q", createdAt: instant())
        ])
        try store.apiKeys.insert(keyRecord(userID: "alice", name: "k"))
        try store.datasets.insert(dataset(userID: "alice"))
        _ = try store.notificationPreferences.update(userID: "alice", at: instant()) { $0.timezone = "UTC" }
        var queued = job(userID: "alice", status: .pending)
        queued.jobTokenHash = "first-token"
        try store.trainingJobs.insert([queued])
        let claimed = try store.trainingAgents.claim(
            jobID: queued.id, userID: "alice", agentID: "agent_alice1", tokenHash: "second-token", now: instant(), leaseUntil: instant())
        #expect(try store.trainingAgents.jobOfRetiredToken("first-token") == queued.id, "\(claimed)")
        _ = try store.serverSecrets.secret(named: "test") { "value" }
        let written = try Self.rowCounts(configuration)
        #expect(written.count >= 8 && written.values.allSatisfy { $0 > 0 }, "\(written)")

        #expect(try TestDatabases.emptyPostgreSQLSchema(configuration))
        #expect(try Self.rowCounts(configuration).values.allSatisfy { $0 == 0 })
        #expect(try store.schemaVersion() == PostgreSQLStore.latestSchemaVersion)
        #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts())
        // What an emptied schema serves is a new one's: the status counts' trigger still counts.
        try store.trainingJobs.insert([job(userID: "alice", status: .paused)])
        #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts([.paused: 1]))
    }

    /// A schema whose objects its test changed (a column, an index, a trigger) is not emptied for another test, and
    /// is dropped when given back.
    @Test(
        .enabled(if: StoreBackend.postgres != nil),
        arguments: [
            "ALTER TABLE api_keys ADD COLUMN note text",
            "DROP INDEX training_jobs_user_failures",
            "DROP TRIGGER training_jobs_count_update ON training_jobs",
            "INSERT INTO schema_migrations (version) VALUES (9999)",
        ])
    func aPostgreSQLSchemaItsTestChangedIsDroppedNotReused(_ change: String) throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        var configuration = StoreBackend.postgresConfiguration(url: url, poolSize: 1)
        try TestDatabases.takePostgreSQLSchema(for: &configuration)
        try PostgreSQLStore(configuration: configuration).apiKeys.insert(keyRecord(userID: "alice", name: "k"))
        try Self.execute(change, in: configuration)
        #expect(try TestDatabases.emptyPostgreSQLSchema(configuration) == false)
        #expect(try Self.rowCounts(configuration)["api_keys"] == 1, "nothing deleted")
        TestDatabases.givePostgreSQLSchemaBack(configuration)
        #expect(try Self.schemaExists(configuration) == false)
    }

    @Test(.enabled(if: StoreBackend.postgres != nil))
    func postgreSQLSchemasTakenAtOnceAreDistinct() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        let taken = onThreads(4) { _ in
            var configuration = StoreBackend.postgresConfiguration(url: url, poolSize: 1)
            try TestDatabases.takePostgreSQLSchema(for: &configuration)
            return configuration
        }
        let configurations = try taken.map { try $0.get() }
        defer { for configuration in configurations { TestDatabases.givePostgreSQLSchemaBack(configuration) } }
        #expect(Set(configurations.map(\.schema)).count == 4)
    }
}
