import Domain
import Foundation
import Storage
import TestDatabases
import Testing

/// A storage backend the conformance suite runs against: every conformance
/// test takes each of `all` as its argument, so adding a backend is adding it
/// to `all` (with a `StoreBackend` value that makes its databases).
struct StoreBackend: Sendable, CustomTestStringConvertible {
    let name: String
    /// The schema version `migrate()` brings a new database to.
    let latestSchemaVersion: Int
    /// Creates a new database of this backend: migrated without a migration of its own (`TestDatabases`: a copy of
    /// the process's migrated SQLite file, a PostgreSQL schema another test gave back emptied), or empty when not
    /// `migrated`.
    let createDatabase: @Sendable (_ migrated: Bool) throws -> TestDatabase

    /// SQLite always; PostgreSQL when `FTAPI_TEST_DATABASE_URL` names a server (`deploy/test.sh` starts one).
    static let all: [StoreBackend] = [.sqlite] + (postgres.map { [$0] } ?? [])

    /// A file in a temporary directory of its own.
    static let sqlite = StoreBackend(name: "SQLite", latestSchemaVersion: SQLiteStore.latestSchemaVersion) { migrated in
        let directory = try TemporaryDirectory()
        if migrated { try TestDatabases.copySQLiteTemplate(to: directory.databasePath) }
        return TestDatabase(open: { directory.store() }, remove: { directory.remove() })
    }

    /// How the server in `FTAPI_TEST_DATABASE_URL` pools sessions: `FTAPI_TEST_DATABASE_POOL_MODE`
    /// (`transaction` when it is pgbouncer in transaction mode), else `session`.
    static let postgresPoolMode: PostgreSQLPoolMode =
        ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_POOL_MODE"].flatMap(PostgreSQLPoolMode.init(rawValue:)) ?? .session

    /// A new configuration on a schema of its own in the server that `FTAPI_TEST_DATABASE_URL` names, in its pool mode.
    static func postgresConfiguration(url: String, poolSize: Int) -> PostgreSQLConfiguration {
        var configuration = PostgreSQLConfiguration(url: url, schema: "test_" + uuid().prefix(8) + "_" + uuid().suffix(8), poolSize: poolSize)
        configuration.poolMode = postgresPoolMode
        return configuration
    }

    /// A schema of its own in the server that `FTAPI_TEST_DATABASE_URL` names, dropped (or, migrated, given back) afterwards.
    static let postgres: StoreBackend? = {
        guard let url = ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"], !url.isEmpty else { return nil }
        return StoreBackend(name: "PostgreSQL", latestSchemaVersion: PostgreSQLStore.latestSchemaVersion) { migrated in
            var configuration = postgresConfiguration(url: url, poolSize: 8)
            guard migrated else {
                return TestDatabase(
                    open: { [configuration] in try PostgreSQLStore(configuration: configuration) },
                    remove: { [configuration] in try? TestDatabases.dropPostgreSQLSchema(configuration) })
            }
            try TestDatabases.takePostgreSQLSchema(for: &configuration)
            return TestDatabase(
                open: { [configuration] in try PostgreSQLStore(configuration: configuration) },
                remove: { [configuration] in TestDatabases.givePostgreSQLSchemaBack(configuration) })
        }
    }()

    var testDescription: String { name }

    /// Runs `body` with a new database of this backend, migrated unless `migrated` is false, and removes the
    /// database afterwards.
    func withDatabase<T>(migrated: Bool = true, _ body: (TestDatabase) throws -> T) throws -> T {
        let database = try createDatabase(migrated)
        defer { database.remove() }
        return try body(database)
    }

    /// Runs `body` with a store on a new migrated database of this backend.
    func withStore<T>(_ body: (any Store) throws -> T) throws -> T {
        try withDatabase { database in try body(database.open()) }
    }

    /// Runs `body` with two store objects opened separately on one new migrated
    /// database: two worker processes, each with its own connections.
    func withTwoStores<T>(_ body: ([any Store]) throws -> T) throws -> T {
        try withDatabase { database in try body([database.open(), database.open()]) }
    }
}

/// One database made for a test.
struct TestDatabase: Sendable {
    /// Opens a new store object on the database, with connections of its own.
    let open: @Sendable () throws -> any Store
    /// Drops the database; stores opened on it are not used afterwards.
    let remove: @Sendable () -> Void
}
