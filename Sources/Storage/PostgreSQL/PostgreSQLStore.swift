/// The production store: PostgreSQL through libpq, with a bounded pool of
/// connections per process. Several pool hosts share one database.
public final class PostgreSQLStore: Store {
    private let database: PostgreSQLDatabase
    public let apiKeys: any APIKeyStore
    public let trainingJobs: any TrainingJobStore
    public let datasets: any DatasetStore
    public let analytics: any AnalyticsStore
    public let notificationPreferences: any NotificationPreferencesStore
    public let trainingLogs: any TrainingLogStore
    public let trainingPredictions: any TrainingPredictionStore

    /// A store on `configuration`; connections are opened when first needed.
    public init(configuration: PostgreSQLConfiguration) throws(StoreError) {
        guard PostgreSQLConfiguration.isValidSchema(configuration.schema) else {
            throw .failed("DATABASE_SCHEMA must be a lowercase identifier ([a-z_][a-z0-9_]*), not \(configuration.schema)")
        }
        database = PostgreSQLDatabase(configuration: configuration)
        apiKeys = PostgreSQLAPIKeyStore(database: database)
        trainingJobs = PostgreSQLTrainingJobStore(database: database)
        datasets = PostgreSQLDatasetStore(database: database)
        analytics = PostgreSQLAnalyticsStore(database: database)
        notificationPreferences = PostgreSQLNotificationPreferencesStore(database: database)
        trainingLogs = PostgreSQLTrainingLogStore(database: database)
        trainingPredictions = PostgreSQLTrainingPredictionStore(database: database)
    }

    /// The schema version this build migrates to.
    public static var latestSchemaVersion: Int { PostgreSQLMigrations.latestVersion }

    /// Connections this process holds now.
    public var openConnections: Int { database.openConnections }

    /// Creates the schema when missing and applies the steps not yet applied, under a
    /// session advisory lock: hosts that start at once migrate exactly once.
    public func migrate() throws {
        let schema = PostgreSQLSchema.quoted(database.configuration.schema)
        // A connection of its own, outside the pool: the lock is held across transactions.
        let connection = try database.connect()
        do {
            try connection.execute("SELECT pg_advisory_lock(\(Self.migrationLock))")
            defer { try? connection.execute("SELECT pg_advisory_unlock(\(Self.migrationLock))") }
            try connection.execute(
                """
                CREATE SCHEMA IF NOT EXISTS \(schema);
                CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """
            )
            let current = try connection.first("SELECT coalesce(max(version), 0) FROM schema_migrations") { Int($0.int(0)) } ?? 0
            if current > PostgreSQLMigrations.latestVersion {
                throw StoreError.schemaTooNew(found: current, known: PostgreSQLMigrations.latestVersion)
            }
            for step in PostgreSQLMigrations.steps where step.version > current {
                try connection.execute("BEGIN")
                do {
                    try connection.execute(step.sql)
                    try connection.run("INSERT INTO schema_migrations (version) VALUES ($1)", [.integer(Int64(step.version))])
                    try connection.execute("COMMIT")
                } catch {
                    try? connection.execute("ROLLBACK")
                    throw error
                }
            }
        } catch let error as PostgreSQLError {
            throw StoreError.failed("migration: \(error)")
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
            try connection.execute("DROP SCHEMA IF EXISTS \(PostgreSQLSchema.quoted(database.configuration.schema)) CASCADE")
        } catch {
            throw StoreError.failed("drop schema: \(error)")
        }
    }

    public func scope<T>(_ body: () throws -> T) rethrows -> T {
        try database.scope(body)
    }
}
