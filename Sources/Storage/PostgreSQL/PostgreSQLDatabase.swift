import Domain
import Essentials

#if canImport(Glibc)
import Glibc
#endif

/// A bounded pool of connections for one process, and the transactions the
/// stores run on them.
///
/// A request's work runs inside `scope`: the first store call on that thread
/// takes a connection and every later one reuses it until the request ends,
/// so a request waits for a connection at most once. Outside a scope (the
/// usage flusher, the CLI) each call takes and returns one.
final class PostgreSQLDatabase: SQLDatabase, @unchecked Sendable {
    // @unchecked: `idle` and `open` are only touched with `lock` held; a
    // connection is used by the one thread that took it.
    let configuration: PostgreSQLConfiguration
    let dialect = SQLDialect.postgresql
    /// Guards `idle` and `open`; signalled when a connection is returned.
    private let lock = Lock()
    private var idle: [PostgreSQLConnection] = []
    private var open = 0
    private var scopeKey = pthread_key_t()

    /// The connection a thread's current request holds (`scope`), if any, and the request's clock.
    private final class Scope {
        var connection: PostgreSQLConnection?
        let clock: RequestClock?

        init(clock: RequestClock?) { self.clock = clock }
    }

    init(configuration: PostgreSQLConfiguration) {
        self.configuration = configuration
        pthread_key_create(&scopeKey, nil)
    }

    deinit {
        pthread_key_delete(scopeKey)
    }

    /// Connections open now (idle and in use).
    var openConnections: Int {
        lock.withLock { open }
    }

    // MARK: Connections

    /// A new connection; a failure to connect is `StoreError.unavailable` with libpq's reason (never the password).
    func connect() throws(StoreError) -> PostgreSQLConnection {
        do {
            return try PostgreSQLConnection(conninfo: configuration.url, schema: configuration.schema, mode: configuration.poolMode)
        } catch {
            throw .unavailable("cannot connect to PostgreSQL at \(configuration.redactedURL): \(error.message)")
        }
    }

    private func checkOut() throws(StoreError) -> PostgreSQLConnection {
        let deadline = Clocks.monotonicSeconds() + configuration.poolTimeoutSeconds
        let taken: PostgreSQLConnection?? = lock.withLock {
            while idle.isEmpty && open >= configuration.poolSize {
                if !lock.wait(untilMonotonicSeconds: deadline), idle.isEmpty, open >= configuration.poolSize { return nil }
            }
            if let connection = idle.popLast() { return .some(connection) }
            open += 1
            return .some(nil)
        }
        guard let taken else { throw .busy }
        if let connection = taken { return connection }
        do {
            return try connect()
        } catch {
            release(nil)
            throw error
        }
    }

    /// Returns a connection to the pool; a broken one (or nil) only frees its place.
    private func release(_ connection: PostgreSQLConnection?) {
        connection?.clock = nil
        lock.withLock {
            if let connection, !connection.isBroken {
                idle.append(connection)
            } else {
                open -= 1
            }
            lock.signal()
        }
    }

    private var currentScope: Scope? {
        pthread_getspecific(scopeKey).map { Unmanaged<Scope>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Runs one request's work: every store call that `body` makes on this thread uses one connection,
    /// taken at the first call and returned when `body` ends. Its statements end at `clock`'s deadline,
    /// count their time on it, and announce their waits through it.
    func scope<T>(_ clock: RequestClock?, _ body: () throws -> T) rethrows -> T {
        guard currentScope == nil else { return try body() }
        let scope = Scope(clock: clock)
        pthread_setspecific(scopeKey, Unmanaged.passUnretained(scope).toOpaque())
        defer {
            pthread_setspecific(scopeKey, nil)
            if let connection = scope.connection { release(connection) }
        }
        return try body()
    }

    /// Runs `body` with a connection: the request's, or one taken for this call.
    /// A connection that broke is dropped (and the request's scope takes a new one next time).
    private func withConnection<T>(_ body: (PostgreSQLConnection) throws -> T) throws -> T {
        if let scope = currentScope {
            let connection: PostgreSQLConnection
            if let held = scope.connection, !held.isBroken {
                connection = held
            } else {
                if let broken = scope.connection {
                    scope.connection = nil
                    release(broken)
                }
                connection = try checkOut()
                connection.clock = scope.clock
                scope.connection = connection
            }
            return try body(connection)
        }
        let connection = try checkOut()
        defer { release(connection) }
        return try body(connection)
    }

    // MARK: Transactions

    /// Runs `body` outside a transaction (one statement). A read that failed because the
    /// connection broke, before anything was returned, runs once more on a new connection.
    func read<T>(_ body: (PostgreSQLConnection) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try mapErrors { try withConnection(body) }
            } catch is ConnectionLost where attempt == 1 {
                attempt += 1
            } catch is ConnectionLost {
                throw StoreError.unavailable("the connection to PostgreSQL was lost")
            } catch is Retryable {
                throw StoreError.unavailable("a read conflicted with a concurrent write")
            }
        }
    }

    /// Runs `body` in a read-only transaction: every statement sees one snapshot.
    func snapshot<T>(_ body: (PostgreSQLConnection) throws -> T) throws -> T {
        try read { connection in
            try Self.transaction(on: connection, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
        }
    }

    /// Runs `body` in a write transaction. A serialization failure or a deadlock runs it again
    /// (a bounded number of times); a broken connection is `StoreError.unavailable` with nothing committed.
    func write<T>(_ body: (PostgreSQLConnection) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try mapErrors {
                    try withConnection { connection in try Self.transaction(on: connection, begin: "BEGIN", body) }
                }
            } catch let retry as Retryable where attempt < configuration.transactionAttempts {
                _ = retry
                attempt += 1
                Clocks.sleep(seconds: Double.random(in: 0.001...0.005) * Double(attempt))
            } catch is Retryable {
                throw StoreError.unavailable("a transaction kept conflicting with others (\(attempt) attempts)")
            } catch is ConnectionLost {
                throw StoreError.unavailable("the connection to PostgreSQL was lost")
            }
        }
    }

    private static func transaction<T>(on connection: PostgreSQLConnection, begin: String, _ body: (PostgreSQLConnection) throws -> T) throws -> T {
        connection.begin(begin)
        do {
            let result = try body(connection)
            try connection.commit()
            return result
        } catch {
            connection.rollback()
            throw error
        }
    }

    /// A statement failed because the connection broke (read) — internal, becomes a retry or `unavailable`.
    private struct ConnectionLost: Error {}
    /// A serialization failure or deadlock — internal, becomes a retry or `unavailable`.
    private struct Retryable: Error {}

    private func mapErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgreSQLError {
            if error.connectionLost { throw ConnectionLost() }
            if error.isRetryable { throw Retryable() }
            if error.isUniqueViolation { throw StoreError.duplicate(error.message) }
            if error.isForeignKeyViolation { throw StoreError.missingReference(error.message) }
            if error.isCancelled { throw StoreError.timedOut }
            throw StoreError.failed(error.description)
        }
    }
}
