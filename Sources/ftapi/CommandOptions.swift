import API
import ArgumentParser
import Domain
import Logging
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// Where the data lives: `--data-dir`/`DATA_DIR` and `--database-url`/`DATABASE_URL`.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Directory for the SQLite database and other data (env DATA_DIR).")
    var dataDirectory: String = Environment.string("DATA_DIR") ?? "./data"

    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "sqlite:///abs/path.db, sqlite:relative.db, or postgres://user@host:port/db?sslmode=… (env DATABASE_URL; default: DATA_DIR/ftapi.db). "
                + "A PostgreSQL password goes in the environment's DATABASE_URL (or PGPASSWORD, ~/.pgpass), never on the command line."))
    var databaseURLFlag: String?

    @Option(name: .customLong("database-schema"), help: "PostgreSQL schema that holds the product's tables (env DATABASE_SCHEMA).")
    var databaseSchema: String = Environment.string("DATABASE_SCHEMA") ?? "ftapi"

    @Option(
        name: .customLong("database-pool-size"), help: "PostgreSQL connections per process (env DATABASE_POOL_SIZE; default: the accept threads).")
    var databasePoolSizeFlag: Int?

    @Option(
        name: .customLong("database-pool-timeout"),
        help: "Seconds a request waits for a PostgreSQL connection before a 503 DATABASE_BUSY (env DATABASE_POOL_TIMEOUT_SECONDS).")
    var databasePoolTimeout: Double = Environment.double("DATABASE_POOL_TIMEOUT_SECONDS") ?? 5

    @Option(
        name: .customLong("database-pool-mode"),
        help: ArgumentHelp(
            "session, or transaction behind pgbouncer in transaction pooling mode: statements unprepared and no session settings "
                + "(env DATABASE_POOL_MODE; default session)."))
    var databasePoolMode: String = Environment.string("DATABASE_POOL_MODE") ?? PostgreSQLPoolMode.session.rawValue

    /// The flag, else `DATABASE_URL`.
    var databaseURL: String? { databaseURLFlag ?? Environment.string("DATABASE_URL") }

    @Option(name: .customLong("sqlite-cache-kib"), help: "SQLite page cache per connection, KiB (env SQLITE_CACHE_KIB).")
    var sqliteCacheKiB: Int = Environment.int("SQLITE_CACHE_KIB") ?? 512

    @Option(name: .customLong("sqlite-mmap-bytes"), help: "Bytes of the database file read through mmap; 0 disables (env SQLITE_MMAP_BYTES).")
    var sqliteMmapBytes: Int = Environment.int("SQLITE_MMAP_BYTES") ?? SQLiteConfiguration.defaultMmapBytes

    @Option(
        name: .customLong("sqlite-synchronous"),
        help: "normal: a commit survives a process crash; full: a power loss too, at an fsync per commit (env SQLITE_SYNCHRONOUS).")
    var sqliteSynchronous: String = Environment.string("SQLITE_SYNCHRONOUS") ?? SQLiteSynchronous.normal.rawValue

    @Option(
        name: .customLong("sqlite-wal-limit-mb"),
        help: "MiB of WAL past which a checkpoint truncates it, and one is forced every 5 s (env SQLITE_WAL_LIMIT_MB).")
    var sqliteWALLimitMiB: Int = Environment.int("SQLITE_WAL_LIMIT_MB") ?? 64

    /// The SQLite file this configuration names.
    func sqlitePath() throws -> String {
        guard let url = databaseURL else {
            try ensureDirectory(dataDirectory)
            return dataDirectory + "/ftapi.db"
        }
        if url.hasPrefix("sqlite://") { return String(url.dropFirst("sqlite://".count)) }
        if url.hasPrefix("sqlite:") { return String(url.dropFirst("sqlite:".count)) }
        throw ValidationError("DATABASE_URL must start with sqlite:, postgres:// or postgresql:// (got \(PostgreSQLConfiguration.redacted(url)))")
    }

    /// What the store is, for logs: the PostgreSQL URL without its password, or the SQLite path.
    var databaseDescription: String {
        guard let url = databaseURL else { return "sqlite:\(dataDirectory)/ftapi.db" }
        return PostgreSQLConfiguration.isPostgresURL(url) ? PostgreSQLConfiguration.redacted(url) + " schema \(databaseSchema)" : url
    }

    /// The data directory's dataset files: the one place `DATA_DIR` becomes a `DatasetFiles`. `FTAPI_HOST_ID` names
    /// this host among those sharing DATA_DIR (default: the host name), so that its sweeps leave other hosts' uploads alone.
    func datasetFiles() -> DatasetFiles {
        DatasetFiles(dataDirectory: dataDirectory, host: Environment.string("FTAPI_HOST_ID") ?? DatasetFiles.hostName())
    }

    /// The store `DATABASE_URL` names: PostgreSQL for `postgres://` URLs, else SQLite.
    /// - Parameter poolSize: PostgreSQL connections when `DATABASE_POOL_SIZE` is unset (serve: its thread count).
    func openStore(poolSize: Int = 4) throws -> any Store {
        if let url = databaseURL, PostgreSQLConfiguration.isPostgresURL(url) {
            if databaseURLFlag != nil, PostgreSQLConfiguration.redacted(url) != url {
                throw ValidationError("--database-url must not hold a password (it would show in ps): set DATABASE_URL in the environment")
            }
            guard PostgreSQLConfiguration.isValidSchema(databaseSchema) else {
                throw ValidationError("DATABASE_SCHEMA must be a lowercase identifier ([a-z_][a-z0-9_]*), not \(databaseSchema)")
            }
            let size = databasePoolSizeFlag ?? Environment.int("DATABASE_POOL_SIZE") ?? poolSize
            guard size >= 1, databasePoolTimeout > 0 else {
                throw ValidationError("DATABASE_POOL_SIZE must be ≥ 1 and DATABASE_POOL_TIMEOUT_SECONDS > 0")
            }
            guard let mode = PostgreSQLPoolMode(rawValue: databasePoolMode) else {
                throw ValidationError("DATABASE_POOL_MODE must be session or transaction, not \(databasePoolMode)")
            }
            var configuration = PostgreSQLConfiguration(url: url, schema: databaseSchema, poolSize: size, poolTimeoutSeconds: databasePoolTimeout)
            configuration.poolMode = mode
            return try PostgreSQLStore(configuration: configuration)
        }
        var configuration = SQLiteConfiguration(path: try sqlitePath())
        configuration.cacheKiB = sqliteCacheKiB
        configuration.mmapBytes = sqliteMmapBytes
        guard let synchronous = SQLiteSynchronous(rawValue: sqliteSynchronous) else {
            throw ValidationError("SQLITE_SYNCHRONOUS must be normal or full, not \(sqliteSynchronous)")
        }
        configuration.synchronous = synchronous
        guard sqliteWALLimitMiB >= 1 else { throw ValidationError("SQLITE_WAL_LIMIT_MB must be at least 1") }
        configuration.walLimitBytes = Int64(sqliteWALLimitMiB) << 20
        return SQLiteStore(configuration: configuration)
    }
}

/// Creates `path` (and parents) if missing.
func ensureDirectory(_ path: String) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, 0o750) != 0 && errno != EEXIST {
            throw ValidationError("cannot create directory \(current): \(String(cString: strerror(errno)))")
        }
    }
}

/// Session-token settings: `JWT_SECRET`, `JWT_JWKS`, `JWT_AUDIENCE`, `JWT_LEEWAY_SECONDS`.
struct TokenOptions: ParsableArguments {
    @Option(name: .customLong("jwt-secret"), help: "HS256 secret for session tokens (env JWT_SECRET).")
    var secretFlag: String?

    /// The flag, else `JWT_SECRET`.
    var secret: String? { secretFlag ?? Environment.string("JWT_SECRET") }

    @Option(name: .customLong("jwt-jwks"), help: "JWKS file path or https URL for ES256/RS256 session tokens (env JWT_JWKS).")
    var jwksFlag: String?

    /// The flag, else `JWT_JWKS`.
    var jwks: String? { jwksFlag ?? Environment.string("JWT_JWKS") }

    @Option(name: .customLong("jwt-audience"), help: "Required aud claim (env JWT_AUDIENCE).")
    var audience: String = Environment.string("JWT_AUDIENCE") ?? "authenticated"

    @Option(name: .customLong("jwt-leeway"), help: "Seconds of clock skew allowed on exp/nbf (env JWT_LEEWAY_SECONDS).")
    var leeway: Double = Environment.double("JWT_LEEWAY_SECONDS") ?? 30

    @Option(
        name: .customLong("jwks-refresh"), help: "Least seconds between two JWKS loads; an unknown kid triggers one (env JWT_JWKS_REFRESH_SECONDS).")
    var jwksRefresh: Double = Environment.double("JWT_JWKS_REFRESH_SECONDS") ?? 30

    func configuration() throws -> SessionTokenConfiguration {
        SessionTokenConfiguration(
            hmacSecret: secret.map { Array($0.utf8) },
            jwks: try jwks.map { try JWKSSource($0) },
            audience: audience,
            leewaySeconds: leeway,
            jwksRefreshSeconds: jwksRefresh
        )
    }
}

/// Logging: `--log-level`/`LOG_LEVEL`.
struct LogOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env LOG_LEVEL).")
    var level: String = Environment.string("LOG_LEVEL") ?? "info"

    func bootstrap() -> Logger {
        let level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        return Logger(label: "ftapi")
    }
}
