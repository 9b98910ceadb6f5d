private import CSQLite
import Domain
import Essentials

/// An SQLite error with the library's code and message.
struct SQLiteError: Error, CustomStringConvertible {
    let code: Int32
    let message: String

    var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }
    // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY and _FOREIGNKEY are function-like macros Swift can't import.
    var isUniqueViolation: Bool { code == SQLITE_CONSTRAINT | (8 << 8) || code == SQLITE_CONSTRAINT | (6 << 8) }
    var isForeignKeyViolation: Bool { code == SQLITE_CONSTRAINT | (3 << 8) }
    /// The progress handler stopped the statement: the request's deadline passed.
    var isInterrupt: Bool { code & 0xff == SQLITE_INTERRUPT }
    /// The database can't be used now (can't open, I/O, locked past the busy timeout, full
    /// disk, read-only, corrupt), as opposed to a statement it refused.
    var isUnavailability: Bool {
        [SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL, SQLITE_READONLY, SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_PERM]
            .contains(code & 0xff)
    }
    var description: String { "SQLite error \(code): \(message)" }
}

/// One row of a result, read by column index or by a column enum.
struct SQLiteRow: StoredRow {
    fileprivate let statement: OpaquePointer

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
    func bool(_ column: Int32) -> Bool { int(column) != 0 }

    func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// The text of `column` as SQLite holds it, valid only inside `body`: for reading a value without a String.
    func withText<T>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        guard let text = sqlite3_column_text(statement, column) else { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        return body(UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column))))
    }

    func jobStatus(_ column: Int32) -> JobStatus? { withText(column) { JobStatus(utf8: $0) } }
    func scopes(_ column: Int32) -> [Scope] { withText(column) { ScopeList.decode(utf8: $0) } }
}

/// Where a thread's request stands with respect to its shared read transaction.
enum SQLiteRequestScope {
    /// No request scope: every read is its own autocommit transaction.
    case outside
    /// In a request scope, with no read transaction open yet (or any more, after a write).
    case idle
    /// In a request scope whose read transaction is open: the next reads share its snapshot.
    case reading
}

/// One SQLite connection with a cache of prepared statements.
///
/// Not thread-safe: each thread has its own (`SQLiteDatabase`), so it is
/// opened with NOMUTEX.
final class SQLiteConnection: SQLConnection, @unchecked Sendable {
    // @unchecked: a connection belongs to the thread that opened it and is
    // never handed to another.
    private var handle: OpaquePointer?
    private var statements = StatementCache<OpaquePointer>()
    /// Where this thread's request scope stands (`SQLiteDatabase.scope`).
    var scope = SQLiteRequestScope.outside
    /// The clock of the request whose scope this thread is in, if any: its deadline interrupts a statement.
    var clock: RequestClock?

    /// Run once, before this process's first connection: SQLite takes its configuration only before it
    /// initializes.
    private static let processConfigured: Void = { _ = CSQLite_config_memstatus_off() }()

    /// The oldest SQLite whose SQL the stores write: `UPDATE … FROM` came in 3.33.0.
    static let oldestLibrary: Int32 = 3_033_000

    init(configuration: SQLiteConfiguration) throws {
        Self.processConfigured
        guard sqlite3_libversion_number() >= Self.oldestLibrary else {
            throw SQLiteError(
                code: SQLITE_ERROR, message: "SQLite \(String(cString: sqlite3_libversion())) is too old: the store needs 3.33.0 or newer")
        }
        let path = configuration.path
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            throw SQLiteError(code: rc, message: "open \(path): \(message)")
        }
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, configuration.busyTimeoutMilliseconds)
        // Every 1000 virtual-machine steps: a statement still running past its request's deadline is interrupted.
        sqlite3_progress_handler(
            handle, 1000,
            { connection in
                guard let connection else { return 0 }
                return Unmanaged<SQLiteConnection>.fromOpaque(connection).takeUnretainedValue().clock?.isPastDeadline == true ? 1 : 0
            }, Unmanaged.passUnretained(self).toOpaque())
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=\(configuration.synchronous.rawValue.uppercased())")
        try execute("PRAGMA foreign_keys=ON")
        try execute("PRAGMA cache_size=-\(configuration.cacheKiB)")
        try execute("PRAGMA mmap_size=\(configuration.mmapBytes)")
        // A checkpoint that resets the WAL (no reader left behind it) truncates the file to this size.
        try execute("PRAGMA journal_size_limit=\(configuration.walLimitBytes)")
    }

    deinit {
        for statement in statements.all { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Whether a transaction is open (SQLite is not in autocommit).
    var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    private func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        guard rc == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw SQLiteError(code: rc, message: text)
        }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, Self.numberedParameters(sql), -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc) }
        statements.insert(statement, for: sql)
        return statement
    }

    /// `sql` with its parameters `$n` (the stores' form, `SQLDialect`) written as SQLite's `?n`, which binds
    /// value n however often and in whatever order the statement names it. Text in quotes is left as it is.
    static func numberedParameters(_ sql: String) -> String {
        var bytes = Array(sql.utf8)
        var quote: UInt8?
        for index in bytes.indices {
            let byte = bytes[index]
            if let open = quote {
                if byte == open { quote = nil }
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                quote = byte
            } else if byte == UInt8(ascii: "$"), index + 1 < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index + 1]) {
                bytes[index] = UInt8(ascii: "?")
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Binds `values` to parameters `first`, `first + 1`, ….
    private func bind(_ values: [SQLValue], to statement: OpaquePointer, from first: Int32 = 1) throws {
        for (offset, value) in values.enumerated() {
            let index = first + Int32(offset)
            let rc: Int32
            switch value {
            case .integer(let number): rc = sqlite3_bind_int64(statement, index, number)
            case .bool(let flag): rc = sqlite3_bind_int64(statement, index, flag ? 1 : 0)
            case .real(let number): rc = sqlite3_bind_double(statement, index, number)
            case .null: rc = sqlite3_bind_null(statement, index)
            case .text(let text):
                var text = text
                rc = text.withUTF8 { utf8 in
                    utf8.withMemoryRebound(to: CChar.self) { chars in
                        // An empty buffer may have no base address; bind a zero-length text then.
                        guard let base = chars.baseAddress else { return CSQLite_bind_text_transient(statement, index, "", 0) }
                        return CSQLite_bind_text_transient(statement, index, base, Int32(chars.count))
                    }
                }
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
    }

    /// Runs a statement, calling `row` for each result row.
    func query(_ sql: String, _ values: [SQLValue] = [], row: (SQLiteRow) throws -> Void) throws {
        try query(sql, values, then: [], row: row)
    }

    /// Runs a statement with `values` and then `more` as its parameters, calling `row` for each result row.
    @inline(__always)
    private func query(_ sql: String, _ values: [SQLValue], then more: [SQLValue], row: (SQLiteRow) throws -> Void) throws {
        let started = Clocks.monotonicSeconds()
        let statement = try prepared(sql)
        defer {
            clock?.addDatabaseTime(seconds: Clocks.monotonicSeconds() - started)
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(values, to: statement)
        if !more.isEmpty { try bind(more, to: statement, from: Int32(values.count + 1)) }
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc) }
            try row(SQLiteRow(statement: statement))
        }
    }

    /// Runs a statement that returns no rows; returns the number of rows changed.
    @discardableResult
    func run(_ sql: String, _ values: [SQLValue] = []) throws -> Int {
        try query(sql, values) { _ in }
        return Int(sqlite3_changes(handle))
    }

    /// Runs the one-row statement once per row: in process, a prepared statement stepped per row costs
    /// less than any one statement that would carry the batch.
    func run(_ sql: String, fixed: [SQLValue], rows: [[SQLValue]]) throws {
        for row in rows { try query(sql, fixed, then: row) { _ in } }
    }
}
