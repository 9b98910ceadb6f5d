import Domain
import Foundation
import TestDatabases
import Testing

@testable import Storage

/// What only the PostgreSQL backend has (run when `FTAPI_TEST_DATABASE_URL` names a server): its column lists.
/// Behaviour every backend shares is in the conformance suites.
@Suite("PostgreSQLStore", .enabled(if: StoreBackend.postgres != nil))
struct PostgreSQLStoreTests {
    /// Each column list names columns of its table, flags exactly its `timestamptz` ones as timestamps,
    /// and its cases are the row's indexes 0, 1, 2, ….
    @Test func columnListsMatchTheSchema() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        let configuration = StoreBackend.postgresConfiguration(url: url, poolSize: 1)
        let store = try PostgreSQLStore(configuration: configuration)
        defer { try? store.dropSchema() }
        try store.migrate()
        let connection = try PostgreSQLConnection(conninfo: url, schema: configuration.schema, mode: configuration.poolMode)
        func tableColumns(_ table: String) throws -> [String: String] {
            var types: [String: String] = [:]
            try connection.query(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
                [.text(configuration.schema), .text(table)]
            ) { types[$0.string(0)] = $0.string(1) }
            return types
        }
        func check<Column: TableColumn>(_ column: Column.Type, _ table: String, besides others: Set<String> = []) throws {
            let names = Column.allCases.map(\.name)
            #expect(Column.allCases.map(\.rawValue) == Array(0..<Int32(names.count)), "\(Column.self)")
            #expect(Set(names).count == names.count, "\(Column.self)")
            let types = try tableColumns(table)
            #expect(Set(types.keys) == Set(names).union(others), "\(Column.self)")
            for column in Column.allCases {
                #expect(column.isTimestamp == (types[column.name] == "timestamp with time zone"), "\(Column.self).\(column)")
                #expect(column.isJSON == (types[column.name] == "jsonb"), "\(Column.self).\(column)")
            }
        }
        try check(APIKeyColumn.self, "api_keys")
        try check(DatasetColumn.self, "datasets")
        try check(NotificationPreferenceColumn.self, "notification_preferences")
        try check(JobColumn.self, "training_jobs", besides: ["metrics_points", "samples_per_second_sum", "samples_per_second_count"])
        try check(MetricColumn.self, "training_metrics", besides: ["job_id"])
        try check(LogLineColumn.self, "training_logs")
        try check(PredictionColumn.self, "training_predictions")
    }

    /// A request that waits for a connection past the pool's timeout is refused with `busy`; one that
    /// holds a connection keeps it for all its calls, and the pool never opens more than its size.
    @Test func aFullPoolRefusesAfterItsTimeoutAndARequestKeepsItsConnection() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        var configuration = StoreBackend.postgresConfiguration(url: url, poolSize: 1)
        configuration.poolTimeoutSeconds = 0.3
        try TestDatabases.takePostgreSQLSchema(for: &configuration)
        defer { TestDatabases.givePostgreSQLSchemaBack(configuration) }
        let store = try PostgreSQLStore(configuration: configuration)
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holder = Thread {
            store.scope(nil) {
                _ = try? store.trainingJobs.statusCounts(userID: "u1")
                holding.signal()
                release.wait()
                _ = try? store.trainingJobs.statusCounts(userID: "u1")
            }
        }
        holder.start()
        holding.wait()
        #expect(store.openConnections == 1)
        #expect(throws: StoreError.busy) { try store.trainingJobs.statusCounts(userID: "u2") }
        release.signal()
        // The holder's second call reused its connection; once its request ends, the connection is free again.
        var counts: JobStatusCounts?
        for _ in 0..<100 where counts == nil {
            counts = try? store.trainingJobs.statusCounts(userID: "u2")
            if counts == nil { usleep(20_000) }
        }
        #expect(counts != nil)
        #expect(store.openConnections == 1)
    }

    /// A transaction's BEGIN travels with its first statement: n statements cost n + 1 round trips (the
    /// last its COMMIT), a transaction that ran none costs none, and a failed first statement leaves the
    /// connection out of the transaction, ready for the next.
    @Test func aTransactionsBeginGoesWithItsFirstStatement() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        let database = PostgreSQLDatabase(configuration: StoreBackend.postgresConfiguration(url: url, poolSize: 1))
        try database.scope(nil) {
            var connection: PostgreSQLConnection?
            // Prepares the statements (session mode) outside the counted transactions.
            try database.write { held in
                connection = held
                _ = try held.first("SELECT 1::int8") { $0.int(0) }
                _ = try held.first("SELECT 2::int8") { $0.int(0) }
            }
            let held = try #require(connection)
            var before = held.roundTrips
            let sum = try database.write { held in
                try held.first("SELECT 1::int8") { $0.int(0) }! + held.first("SELECT 2::int8") { $0.int(0) }!
            }
            #expect(sum == 3)
            #expect(held.roundTrips - before == 3)
            before = held.roundTrips
            try database.snapshot { _ in }
            #expect(held.roundTrips == before)
            #expect(throws: StoreError.self) {
                try database.write { held in _ = try held.first("SELECT 1::int8 / 0") { $0.int(0) } }
            }
            before = held.roundTrips
            #expect(try database.snapshot { held in try held.first("SELECT 2::int8") { $0.int(0) } } == 2)
            #expect(held.roundTrips - before == 2)
        }
    }

    /// A session setting made by another client connection never steers the store's statements: through
    /// pgbouncer in transaction mode the other client's `SET search_path` stays on a server session that
    /// the store's next transaction (or lone statement) may well run on, and the store's rows must still
    /// go to and come from its own schema.
    @Test func aStatementNeverSeesAnotherConnectionsSearchPath() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        var oursConfiguration = StoreBackend.postgresConfiguration(url: url, poolSize: 1)
        var theirsConfiguration = StoreBackend.postgresConfiguration(url: url, poolSize: 1)
        try TestDatabases.takePostgreSQLSchema(for: &oursConfiguration)
        defer { TestDatabases.givePostgreSQLSchemaBack(oursConfiguration) }
        try TestDatabases.takePostgreSQLSchema(for: &theirsConfiguration)
        defer { TestDatabases.givePostgreSQLSchemaBack(theirsConfiguration) }
        let ours = try PostgreSQLStore(configuration: oursConfiguration)
        let theirs = try PostgreSQLStore(configuration: theirsConfiguration)
        let other = try PostgreSQLConnection(conninfo: url, schema: theirsConfiguration.schema, mode: StoreBackend.postgresPoolMode)
        let steer = "SET search_path TO \(PostgreSQLSchema.quoted(theirsConfiguration.schema))"
        for round in 1...12 {
            try other.execute(steer)
            let key = keyRecord(userID: "u", name: "k\(round)")
            try ours.apiKeys.insert(key)
            try other.execute(steer)
            #expect(try ours.apiKeys.find(keyHash: key.keyHash)?.id == key.id)
            try other.execute(steer)
            #expect(try ours.apiKeys.list(userID: "u", limit: 100, offset: 0).total == round)
        }
        #expect(try theirs.apiKeys.list(userID: "u", limit: 100, offset: 0).total == 0)
        try other.execute("RESET search_path")
    }

    /// The control for running this suite through pgbouncer in transaction mode (`FTAPI_TEST_DATABASE_POOL_MODE`):
    /// the pooler really hands one server session to several clients, so that a store depending on session
    /// state would fail here. A session setting of one client is seen by another's statement, and the
    /// session mode's named prepared statements of two clients collide.
    @Test(.enabled(if: StoreBackend.postgres != nil && StoreBackend.postgresPoolMode == .transaction))
    func thePoolerSharesServerSessionsBetweenClients() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        let marker = "m" + uuid().prefix(8)
        let setter = try PostgreSQLConnection(conninfo: url, schema: "public", mode: .transaction)
        let reader = try PostgreSQLConnection(conninfo: url, schema: "public", mode: .transaction)
        var seen = false
        for _ in 0..<20 where !seen {
            try setter.execute("SET ftapi_test.marker TO '\(marker)'")
            seen = try reader.first("SELECT current_setting('ftapi_test.marker', true)") { $0.optionalString(0) } == marker
        }
        try setter.execute("RESET ftapi_test.marker")
        #expect(seen, "another client's session setting never showed: is FTAPI_TEST_DATABASE_URL a pooler in transaction mode?")

        let one = try PostgreSQLConnection(conninfo: url, schema: "public", mode: .session)
        let two = try PostgreSQLConnection(conninfo: url, schema: "public", mode: .session)
        var collided = false
        for _ in 0..<20 where !collided {
            do {
                collided = try one.first("SELECT 1::int8") { $0.int(0) } != 1 || two.first("SELECT 2::int8") { $0.int(0) } != 2
            } catch {
                collided = true
            }
        }
        #expect(collided, "named prepared statements of two clients never met on one server session")
        _ = try? one.execute("DEALLOCATE ALL")
        _ = try? two.execute("DEALLOCATE ALL")
    }
}
