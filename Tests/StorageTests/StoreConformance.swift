import Domain
import Testing

/// `Store` itself (schema and health) as every backend implements it.
@Suite("Store conformance")
struct StoreConformance {
    @Test(arguments: StoreBackend.all)
    func migrationsAreIdempotent(_ backend: StoreBackend) throws {
        try backend.withDatabase(migrated: false) { database in
            let store = try database.open()
            #expect(try store.schemaVersion() == 0)
            try store.migrate()
            #expect(try store.schemaVersion() == backend.latestSchemaVersion)
            try store.apiKeys.insert(keyRecord(userID: "u", name: "kept"))
            try store.migrate()
            #expect(try store.schemaVersion() == backend.latestSchemaVersion)
            // A second store (another process) migrating the same database changes nothing either.
            let again = try database.open()
            try again.migrate()
            #expect(try again.schemaVersion() == backend.latestSchemaVersion)
            #expect(try again.apiKeys.list(userID: "u", limit: 10, offset: 0).total == 1)
            try store.ping()
            try again.ping()
        }
    }

    @Test(arguments: StoreBackend.all)
    func concurrentMigrationsFromSeveralStoresSucceed(_ backend: StoreBackend) throws {
        try backend.withDatabase(migrated: false) { database in
            let stores = try (0..<4).map { _ in try database.open() }
            let results = onThreads(stores.count) { thread in try stores[thread].migrate() }
            #expect(results.compactMap(\.error).isEmpty, "\(results.compactMap(\.error))")
            for store in stores { #expect(try store.schemaVersion() == backend.latestSchemaVersion) }
        }
    }
}
