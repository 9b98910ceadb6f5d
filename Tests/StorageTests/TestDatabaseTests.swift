import Domain
import Foundation
import TestDatabases
import Testing

@testable import Storage

/// The tests' databases are copies of one migrated template per process (`TestDatabases`): a copy must be the
/// database a migration makes, and a database of its own.
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

    @Test(.enabled(if: StoreBackend.postgres != nil))
    func aPostgreSQLCloneIsTheSchemaAMigrationMakes() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        let (migrated, cloned) = (
            StoreBackend.postgresConfiguration(url: url, poolSize: 1), StoreBackend.postgresConfiguration(url: url, poolSize: 1)
        )
        defer {
            try? TestDatabases.dropPostgreSQLSchema(migrated)
            try? TestDatabases.dropPostgreSQLSchema(cloned)
        }
        try PostgreSQLStore(configuration: migrated).migrate()
        try TestDatabases.clonePostgreSQLTemplate(into: cloned)
        let expected = try TestDatabases.describePostgreSQLSchema(migrated)
        // What the description must see for the comparison to mean anything.
        #expect(expected.contains { $0.hasPrefix("trigger CREATE TRIGGER training_jobs_count_insert") })
        #expect(expected.contains { $0.hasPrefix("index CREATE UNIQUE INDEX api_keys_active_name ON SCHEMA.api_keys") })
        #expect(expected.contains { $0.hasPrefix("constraint training_logs training_logs_job_id_fkey FOREIGN KEY") })
        #expect(expected.contains { $0.hasPrefix("function CREATE OR REPLACE FUNCTION SCHEMA.job_status_counts_maintain()") })
        #expect(expected.last == "version \(PostgreSQLStore.latestSchemaVersion)")
        let clone = try TestDatabases.describePostgreSQLSchema(cloned)
        #expect(clone == expected, "differs: \(Set(clone).symmetricDifference(expected).sorted())")
        #expect(try PostgreSQLStore(configuration: cloned).schemaVersion() == PostgreSQLStore.latestSchemaVersion)
    }

    /// A clone's rows, keys and triggers are its own: the status counts its trigger keeps, a foreign key to its own
    /// jobs, nothing seen from another clone.
    @Test(.enabled(if: StoreBackend.postgres != nil))
    func postgreSQLClonesAreSchemasOfTheirOwn() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        let configurations = [StoreBackend.postgresConfiguration(url: url, poolSize: 1), StoreBackend.postgresConfiguration(url: url, poolSize: 1)]
        defer { for configuration in configurations { try? TestDatabases.dropPostgreSQLSchema(configuration) } }
        for configuration in configurations { try TestDatabases.clonePostgreSQLTemplate(into: configuration) }
        let (first, second) = (try PostgreSQLStore(configuration: configurations[0]), try PostgreSQLStore(configuration: configurations[1]))
        let running = job(userID: "alice", status: .running)
        try first.trainingJobs.insert([running])
        #expect(try first.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts([.running: 1]))
        #expect(try second.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts())
        #expect(try first.trainingLogs.append(jobID: running.id, lines: ["one"], keep: 10) == 1)
        #expect(throws: (any Error).self, "the job is the other clone's") {
            try second.trainingLogs.append(jobID: running.id, lines: ["x"], keep: 10)
        }
    }
}
