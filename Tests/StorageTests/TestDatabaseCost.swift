import Domain
import Foundation
import Storage
import TestDatabases
import Testing

/// What a test's migrated database costs, made as the tests made it before (a migration of its own) and as they
/// make it now (SQLite: a copy of the process's template; PostgreSQL: a schema another test gave back, emptied), with
/// its removal. A measurement, not a check: run on request
/// (`FTAPI_MEASURE_TEST_DATABASE_COST=1`, `FTAPI_MEASURE_DATABASES` of each kind, default 40, one at a time); it
/// prints one line per kind. PostgreSQL's when `FTAPI_TEST_DATABASE_URL` names a server.
@Suite(
    "Test database cost",
    .enabled(if: ProcessInfo.processInfo.environment["FTAPI_MEASURE_TEST_DATABASE_COST"] == "1"))
struct TestDatabaseCost {
    static let count = ProcessInfo.processInfo.environment["FTAPI_MEASURE_DATABASES"].flatMap { Int($0) } ?? 40

    static func measure(_ kind: String, _ make: () throws -> Void) throws {
        try make()  // the template, a first connection
        let started = Date()
        for _ in 0..<count { try make() }
        let milliseconds = Date().timeIntervalSince(started) * 1000 / Double(count)
        print("test database cost: \(kind): \(String(format: "%.1f", milliseconds)) ms each (\(count), one at a time)")
    }

    @Test func perDatabaseCostOfAMigrationAndOfACopy() throws {
        try Self.measure("SQLite, a new file migrated (before)") {
            let directory = try TemporaryDirectory()
            try directory.store().migrate()
            directory.remove()
        }
        try Self.measure("SQLite, the template copied (now)") {
            let directory = try TemporaryDirectory()
            _ = try directory.migratedStore()
            directory.remove()
        }
        guard let url = ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"] else { return }
        try Self.measure("PostgreSQL, a new schema migrated by a store, dropped by another (before)") {
            let configuration = StoreBackend.postgresConfiguration(url: url, poolSize: 8)
            try PostgreSQLStore(configuration: configuration).migrate()
            try PostgreSQLStore(configuration: configuration).dropSchema()
        }
        try Self.measure("PostgreSQL, a schema taken and given back emptied (now)") {
            var configuration = StoreBackend.postgresConfiguration(url: url, poolSize: 8)
            try TestDatabases.takePostgreSQLSchema(for: &configuration)
            TestDatabases.givePostgreSQLSchemaBack(configuration)
        }
        try Self.measure("PostgreSQL, a schema taken, two jobs written by a store, given back emptied (now)") {
            var configuration = StoreBackend.postgresConfiguration(url: url, poolSize: 8)
            try TestDatabases.takePostgreSQLSchema(for: &configuration)
            try PostgreSQLStore(configuration: configuration).trainingJobs.insert([job(userID: "alice"), job(userID: "bob")])
            TestDatabases.givePostgreSQLSchemaBack(configuration)
        }
        var held = StoreBackend.postgresConfiguration(url: url, poolSize: 8)
        try TestDatabases.takePostgreSQLSchema(for: &held)
        defer { TestDatabases.givePostgreSQLSchemaBack(held) }
        try Self.measure("PostgreSQL, two jobs written by a new store, alone (the part of the above that is no schema's)") {
            try PostgreSQLStore(configuration: held).trainingJobs.insert([job(userID: "alice"), job(userID: "bob")])
        }
    }
}
