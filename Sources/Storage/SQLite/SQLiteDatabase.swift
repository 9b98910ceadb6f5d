import Domain
import Essentials

#if canImport(Glibc)
import Glibc
#endif

/// Where and how to open the SQLite database.
public struct SQLiteConfiguration: Sendable {
    public var path: String
    /// How long a writer waits for another process's write lock.
    public var busyTimeoutMilliseconds: Int32 = 5000
    /// Page cache per connection.
    public var cacheKiB: Int = 512
    /// Bytes of the file SQLite reads through a memory map instead of pread(2); 0 turns it off.
    public var mmapBytes: Int = Self.defaultMmapBytes
    /// 256 MiB: a read then neither makes a system call nor copies the page into the connection's cache.
    /// The mapped pages are the kernel's page cache, shared by every connection and worker: they count in
    /// a worker's `VmRSS` (as `RssFile`), not in its anonymous memory.
    public static let defaultMmapBytes = 256 << 20
    /// When a commit reaches the disk.
    public var synchronous: SQLiteSynchronous = .normal
    /// The WAL's size past which a checkpoint truncates it (`journal_size_limit`, and `SQLiteStore.checkpointWAL`).
    public var walLimitBytes: Int64 = 64 << 20

    public init(path: String) { self.path = path }
}

/// SQLite's `synchronous` setting in WAL mode: what a commit survives.
public enum SQLiteSynchronous: String, Sendable, CaseIterable {
    /// A commit survives a crash of the process; a power loss or an OS crash can take back the last ones
    /// (the WAL is synced at checkpoints, not at each commit).
    case normal
    /// A commit survives a power loss too: the WAL is synced at each commit, which every writer then waits on
    /// (bench/training.sh on SQLite measured a quarter to a third fewer points a second).
    case full
}

/// Gives each thread its own SQLite connection to one database file, opened
/// on the thread's first use and closed when the thread ends: the accept
/// threads never wait on each other (or on a pool lock) to reach the database.
final class SQLiteDatabase: SQLDatabase, WaitReleasable, @unchecked Sendable {
    // @unchecked: the only state is the immutable configuration and a
    // pthread key; each connection is reachable from its own thread only.
    let configuration: SQLiteConfiguration
    let dialect = SQLDialect.sqlite
    private var key = pthread_key_t()
    /// Serialises this process's writers before they reach SQLite's file
    /// lock: they then queue on a mutex instead of polling in SQLite's busy
    /// handler, whose growing sleeps make a few writers wait very long.
    private let writerLock = Lock()

    init(configuration: SQLiteConfiguration) {
        self.configuration = configuration
        pthread_key_create(&key) { raw in
            guard let raw else { return }
            Unmanaged<SQLiteConnection>.fromOpaque(raw).release()
        }
    }

    deinit {
        // Connections of threads still alive stay open until those threads end;
        // only tests create and drop databases while threads live on.
        if let raw = pthread_getspecific(key) {
            Unmanaged<SQLiteConnection>.fromOpaque(raw).release()
        }
        pthread_key_delete(key)
    }

    /// This thread's connection, if it has opened one.
    private var openedThreadConnection: SQLiteConnection? {
        pthread_getspecific(key).map { Unmanaged<SQLiteConnection>.fromOpaque($0).takeUnretainedValue() }
    }

    private func threadConnection() throws -> SQLiteConnection {
        if let connection = openedThreadConnection { return connection }
        let connection = try SQLiteConnection(configuration: configuration)
        pthread_setspecific(key, Unmanaged.passRetained(connection).toOpaque())
        return connection
    }

    /// Runs one request's work. Its reads share one read transaction (one snapshot), begun by the first
    /// read and ended by the first write, before the request waits on the network (`RequestClock.waiting`
    /// calls `releaseBeforeWait`: a held snapshot would keep checkpoints from resetting the WAL meanwhile), or
    /// when `body` ends. A request that reads twice (its credential, then its data) so begins and ends one
    /// transaction, not two; a write, and any read after it, see the latest data. Its statements end at
    /// `clock`'s deadline and count their time on it.
    func scope<T>(_ clock: RequestClock?, _ body: () throws -> T) rethrows -> T {
        guard let connection = try? threadConnection(), connection.scope == .outside else { return try body() }
        connection.scope = .idle
        connection.clock = clock
        defer {
            endSharedRead(connection)
            connection.scope = .outside
            connection.clock = nil
        }
        guard let clock else { return try body() }
        return try clock.holding(self, body)
    }

    func releaseBeforeWait() { releaseReads() }

    /// Ends this thread's shared read transaction, if its request has one open; its next read begins another.
    func releaseReads() {
        if let connection = openedThreadConnection { endSharedRead(connection) }
    }

    private func endSharedRead(_ connection: SQLiteConnection) {
        guard connection.scope == .reading else { return }
        connection.scope = .idle
        guard connection.inTransaction else { return }
        // A read transaction has nothing to commit; ROLLBACK ends it too if COMMIT can't.
        if (try? connection.run("COMMIT")) == nil { try? connection.execute("ROLLBACK") }
    }

    /// Runs `body` with this thread's connection: in a request scope, inside the request's shared read
    /// transaction; outside one, each statement reading in autocommit (its own snapshot). SQLite errors
    /// become `StoreError`. For one statement: a method that reads more than once uses `snapshot`.
    func read<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let connection = try mapErrors { try threadConnection() }
        return try mapErrors {
            if connection.scope == .idle {
                try connection.run("BEGIN DEFERRED")
                connection.scope = .reading
            }
            return try body(connection)
        }
    }

    /// Runs `body` in a read transaction, so that all its statements read one snapshot: a page and its
    /// total, or the figures of one dashboard, agree however writers interleave. In a request scope that
    /// transaction is the request's shared one. Not reentrant, and not to be called inside `write`.
    func snapshot<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        if let connection = openedThreadConnection, connection.scope != .outside { return try read(body) }
        return try transaction("BEGIN DEFERRED", body)
    }

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE`: the write lock is
    /// taken up front, so two processes never deadlock upgrading a read).
    /// Not reentrant: `body` must not call `write` again.
    ///
    /// The request's shared read ends before it queues for the writer: under a steady stream of writes,
    /// requests waiting their turn with snapshots held would keep every checkpoint short of the WAL's end,
    /// and the WAL would grow without bound.
    func write<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        releaseReads()
        return try writerLock.withLock { try transaction("BEGIN IMMEDIATE", body) }
    }

    /// `write` for work that may find another process's write lock held for long (a migration behind
    /// another's, on a slow disk): the lock, or the WAL switch of a new file, still busy past the busy
    /// timeout is waited for again, up to `seconds` in all.
    func write<T>(waitingUpTo seconds: Double, _ body: (SQLiteConnection) throws -> T) throws -> T {
        let deadline = Clocks.monotonicSeconds() + seconds
        releaseReads()
        return try mapErrors {
            while true {
                do {
                    return try writerLock.withLock { try unmappedTransaction("BEGIN IMMEDIATE", body) }
                } catch let error as SQLiteError where error.isBusy && Clocks.monotonicSeconds() < deadline {
                    Clocks.sleep(seconds: 0.05)
                }
            }
        }
    }

    /// Runs `body` between `begin` and COMMIT (both cached prepared statements), rolling back when anything throws.
    private func transaction<T>(_ begin: String, _ body: (SQLiteConnection) throws -> T) throws -> T {
        try mapErrors { try unmappedTransaction(begin, body) }
    }

    /// `transaction` with SQLite's own errors.
    private func unmappedTransaction<T>(_ begin: String, _ body: (SQLiteConnection) throws -> T) throws -> T {
        let connection = try threadConnection()
        try connection.run(begin)
        do {
            let result = try body(connection)
            try connection.run("COMMIT")
            return result
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    private func mapErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SQLiteError {
            if error.isUniqueViolation { throw StoreError.duplicate(error.message) }
            if error.isInterrupt { throw StoreError.timedOut }
            if error.isForeignKeyViolation { throw StoreError.missingReference(error.message) }
            if error.isUnavailability { throw StoreError.unavailable(error.description) }
            throw StoreError.failed(error.description)
        }
    }
}
