import Synchronization

/// Where and how to open the SQLite database.
public struct SQLiteConfiguration: Sendable {
    public var path: String
    /// How long a writer waits for another process's write lock.
    public var busyTimeoutMilliseconds: Int32 = 5000
    /// Page cache per connection.
    public var cacheKiB: Int = 2048
    /// Idle connections kept open for reuse.
    public var maxIdleConnections: Int = 64

    public init(path: String) { self.path = path }
}

/// A pool of SQLite connections to one database file, shared by the threads
/// of a process. Each connection is used by one thread at a time.
final class SQLiteDatabase: Sendable {
    let configuration: SQLiteConfiguration
    private let idle = Mutex<[SQLiteConnection]>([])

    init(configuration: SQLiteConfiguration) {
        self.configuration = configuration
    }

    private func checkOut() throws -> SQLiteConnection {
        if let connection = idle.withLock({ $0.popLast() }) { return connection }
        return try SQLiteConnection(
            path: configuration.path,
            busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds,
            cacheKiB: configuration.cacheKiB
        )
    }

    private func checkIn(_ connection: SQLiteConnection) {
        idle.withLock { connections in
            if connections.count < configuration.maxIdleConnections { connections.append(connection) }
        }
    }

    /// Runs `body` with a connection of its own; SQLite errors become `StoreError`.
    func read<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let connection = try mapErrors { try checkOut() }
        defer { checkIn(connection) }
        return try mapErrors { try body(connection) }
    }

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE`: the write lock is
    /// taken up front, so two processes never deadlock upgrading a read).
    func write<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try read { connection in
            try connection.execute("BEGIN IMMEDIATE")
            do {
                let result = try body(connection)
                try connection.execute("COMMIT")
                return result
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
    }

    private func mapErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SQLiteError {
            throw error.isUniqueViolation ? StoreError.duplicate(error.message) : StoreError.unavailable(error.description)
        }
    }
}
