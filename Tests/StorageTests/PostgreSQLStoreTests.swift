import Foundation
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
        let configuration = PostgreSQLConfiguration(url: url, schema: "test_" + uuid().prefix(8) + "_" + uuid().suffix(8), poolSize: 1)
        let store = try PostgreSQLStore(configuration: configuration)
        defer { try? store.dropSchema() }
        try store.migrate()
        let connection = try PostgreSQLConnection(conninfo: url, schema: configuration.schema)
        func tableColumns(_ table: String) throws -> [String: String] {
            var types: [String: String] = [:]
            try connection.query(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
                [.text(configuration.schema), .text(table)]
            ) { types[$0.string(0)] = $0.string(1) }
            return types
        }
        func check<Column: PostgreSQLTableColumn>(_ column: Column.Type, _ table: String, besides others: Set<String> = []) throws {
            let names = Column.allCases.map(\.name)
            #expect(Column.allCases.map(\.rawValue) == Array(0..<Int32(names.count)), "\(Column.self)")
            #expect(Set(names).count == names.count, "\(Column.self)")
            let types = try tableColumns(table)
            #expect(Set(types.keys) == Set(names).union(others), "\(Column.self)")
            for column in Column.allCases {
                #expect(column.isTimestamp == (types[column.name] == "timestamp with time zone"), "\(Column.self).\(column)")
            }
        }
        try check(APIKeyColumn.self, "api_keys")
        try check(DatasetColumn.self, "datasets")
        try check(NotificationPreferenceColumn.self, "notification_preferences")
    }

    /// A request that waits for a connection past the pool's timeout is refused with `busy`; one that
    /// holds a connection keeps it for all its calls, and the pool never opens more than its size.
    @Test func aFullPoolRefusesAfterItsTimeoutAndARequestKeepsItsConnection() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        var configuration = PostgreSQLConfiguration(url: url, schema: "test_" + uuid().prefix(8) + "_" + uuid().suffix(8), poolSize: 1)
        configuration.poolTimeoutSeconds = 0.3
        let store = try PostgreSQLStore(configuration: configuration)
        defer { try? store.dropSchema() }
        try store.migrate()
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holder = Thread {
            store.scope {
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
}
