// The one file that talks to libpq. Everything above it sees rows of text
// values and `PostgreSQLError`.
private import CLibPQ
import Domain
import Essentials

#if canImport(Glibc)
import Glibc
#endif

extension SQLValue {
    /// The parameter's text, which the server casts to the type the statement gives it; nil for NULL.
    fileprivate var text: String? {
        switch self {
        case .integer(let number): String(number)
        case .real(let number): "\(number)"
        case .text(let text): text
        case .bool(let flag): flag ? "t" : "f"
        case .null: nil
        }
    }

    /// The value as an element of an array literal (`{a,b}`): text quoted, with its quotes and backslashes
    /// escaped scalar by scalar (a quote followed by a combining mark is one Character, but still a quote).
    fileprivate var arrayElement: String {
        guard case .text(let text) = self else { return self.text ?? "NULL" }
        var element = "\""
        for scalar in text.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { element.unicodeScalars.append("\\") }
            element.unicodeScalars.append(scalar)
        }
        element.unicodeScalars.append("\"")
        return element
    }
}

/// What the server (or the lost connection) said.
struct PostgreSQLError: Error, CustomStringConvertible {
    /// The five-character SQLSTATE, when the server sent one.
    let sqlState: String?
    let message: String
    /// The connection is gone (server restart, network cut): it must be replaced.
    let connectionLost: Bool

    var isUniqueViolation: Bool { sqlState == "23505" }
    var isForeignKeyViolation: Bool { sqlState == "23503" }
    /// A serialization failure or a deadlock: the transaction can be run again.
    var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// The statement was cancelled (`query_canceled`): the request's deadline passed.
    var isCancelled: Bool { sqlState == "57014" }

    var description: String {
        let state = sqlState.map { " (SQLSTATE \($0))" } ?? ""
        return "PostgreSQL\(state): \(message)"
    }
}

/// One row of a result, read as text and converted on access.
struct PostgreSQLRow: StoredRow {
    fileprivate let result: OpaquePointer
    fileprivate let row: Int32

    func isNull(_ column: Int32) -> Bool { PQgetisnull(result, row, column) == 1 }

    private func value(_ column: Int32) -> UnsafeMutablePointer<CChar> { PQgetvalue(result, row, column) }

    func int(_ column: Int32) -> Int64 { strtoll(value(column), nil, 10) }
    func double(_ column: Int32) -> Double { strtod(value(column), nil) }
    func bool(_ column: Int32) -> Bool { value(column).pointee == CChar(UInt8(ascii: "t")) }

    func string(_ column: Int32) -> String {
        let length = Int(PQgetlength(result, row, column))
        return value(column).withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }
}

/// One connection to the server, used by one thread at a time (the pool hands it out).
/// Statements run with their parameters apart from the SQL text: no value is ever spliced into a statement.
///
/// A transaction's `BEGIN` is not sent on its own: it goes in one pipeline with the transaction's first
/// statement, so a transaction of n statements costs n + 1 round trips (its COMMIT the last), and one that
/// ran none costs nothing.
///
/// In `.session` mode the connection's session holds the search path and the statements, each prepared
/// once. In `.transaction` mode (behind pgbouncer in transaction pooling) the session holds nothing:
/// statements go unnamed, and a statement runs behind `set_config('search_path', …, true)` in the same
/// pipeline: the transaction's first one after its `BEGIN`, one outside a transaction on its own with one
/// Sync, so both run in one implicit transaction on one server session.
final class PostgreSQLConnection: SQLConnection, @unchecked Sendable {
    // @unchecked: the pool hands a connection to one thread at a time; nothing
    // here is touched by two threads at once.
    private let handle: OpaquePointer
    /// The schema, quoted once: a transaction-mode statement sends it each time.
    private let quotedSchema: String
    private let mode: PostgreSQLPoolMode
    private var statements = StatementCache<String>()
    /// A pipeline could not be left cleanly: the connection is not reused.
    private var unusable = false
    /// The `BEGIN …` of a transaction none of whose statements has been sent yet.
    private var pendingBegin: String?
    /// Message exchanges with the server so far (each a round trip): what tests and measurements count.
    private(set) var roundTrips = 0
    /// The clock of the request that holds the connection, if any: its deadline cancels a statement, and a
    /// statement's wait for its answer is announced on it.
    var clock: RequestClock?

    /// Connects with a libpq connection string or `postgres://` URL. In `.session` mode it then sets the
    /// session's search path to `schema` and its time zone to UTC; in `.transaction` mode it sets nothing.
    init(conninfo: String, schema: String, mode: PostgreSQLPoolMode = .session) throws(PostgreSQLError) {
        guard let handle = PQconnectdb(conninfo) else {
            throw PostgreSQLError(sqlState: nil, message: "out of memory", connectionLost: true)
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            // Not yet owned by self: deinit would finish it a second time.
            let message = Self.text(PQerrorMessage(handle))
            PQfinish(handle)
            throw PostgreSQLError(sqlState: nil, message: message, connectionLost: true)
        }
        self.handle = handle
        quotedSchema = PostgreSQLSchema.quoted(schema)
        self.mode = mode
        if mode == .session {
            try execute("SET search_path TO \(quotedSchema); SET TIME ZONE 'UTC'; SET client_min_messages TO warning")
        }
    }

    deinit { PQfinish(handle) }

    /// Whether the connection is gone; a broken connection is dropped, never reused.
    var isBroken: Bool { unusable || PQstatus(handle) != CONNECTION_OK }

    private static func text(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        // libpq's messages may span lines; a log line or a CLI error keeps them on one.
        return String(cString: pointer).split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
            .joined(separator: "; ")
    }

    private func failure(_ result: OpaquePointer?) -> PostgreSQLError {
        let state = result.flatMap { CLibPQ_sqlState($0) }.map { String(cString: $0) }
        var message = result.map { Self.text(PQresultErrorMessage($0)) } ?? Self.text(PQerrorMessage(handle))
        if message.isEmpty { message = Self.text(PQerrorMessage(handle)) }
        // A named statement that vanished or already exists: the session changed under the connection.
        if mode == .session, state == "26000" || state == "42P05" {
            message +=
                " (named prepared statements need a server session per connection: behind a pooler in transaction mode, "
                + "set DATABASE_POOL_MODE=transaction)"
        }
        return PostgreSQLError(sqlState: state, message: message, connectionLost: isBroken)
    }

    /// Runs one or more statements that take no parameters (migrations, session settings).
    func execute(_ sql: String) throws(PostgreSQLError) {
        let result = PQexec(handle, sql)
        roundTrips += 1
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw failure(result) }
    }

    /// Starts a transaction with `sql` (`BEGIN …`), sent with the transaction's first statement.
    func begin(_ sql: String) {
        pendingBegin = sql
    }

    /// Commits the transaction `begin` started; one that ran no statement was never sent, and ends here.
    func commit() throws(PostgreSQLError) {
        guard pendingBegin == nil else {
            pendingBegin = nil
            return
        }
        try run("COMMIT")
    }

    /// Rolls back the transaction `begin` started, if the server holds one (a broken connection is left alone).
    func rollback() {
        pendingBegin = nil
        guard !isBroken, PQtransactionStatus(handle) != PQTRANS_IDLE else { return }
        _ = try? run("ROLLBACK")
    }

    private func prepared(_ sql: String) throws(PostgreSQLError) -> String {
        if let name = statements[sql] { return name }
        let name = "s\(statements.count + 1)"
        let result = PQprepare(handle, name, sql, 0, nil)
        roundTrips += 1
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else { throw failure(result) }
        statements.insert(name, for: sql)
        return name
    }

    /// Runs a statement with `values` as its `$1…$n`; returns the result (the caller clears it).
    private func run(prepared sql: String, _ values: [SQLValue]) throws(PostgreSQLError) -> OpaquePointer {
        let texts = values.map(\.text)
        // libpq reads a text parameter up to its first NUL byte: such a value would be cut short without a word.
        if let index = texts.firstIndex(where: { $0?.utf8.contains(0) == true }) {
            throw PostgreSQLError(
                sqlState: "22021", message: "parameter $\(index + 1) holds a NUL byte, which PostgreSQL text cannot", connectionLost: false)
        }
        let name = mode == .session ? try prepared(sql) : nil
        let copies = texts.map { $0.map { strdup($0) } ?? nil }
        defer { for copy in copies { free(copy) } }
        if clock?.isPastDeadline == true {
            throw PostgreSQLError(sqlState: "57014", message: "not sent: the request's deadline has passed", connectionLost: false)
        }
        let started = Clocks.monotonicSeconds()
        defer { clock?.addDatabaseTime(seconds: Clocks.monotonicSeconds() - started) }
        let deadline = clock?.deadline ?? .infinity
        let parameters = copies.map { UnsafePointer($0) }
        var leading: [LeadingStatement] = []
        if let begin = pendingBegin {
            pendingBegin = nil
            leading.append(LeadingStatement(sql: begin, value: nil))
        }
        if mode == .transaction && (!leading.isEmpty || PQtransactionStatus(handle) == PQTRANS_IDLE) {
            leading.append(LeadingStatement(sql: Self.setSearchPath, value: quotedSchema))
        }
        if !leading.isEmpty {
            return try runPipelined(after: leading, name: name, sql: sql, parameters, deadline: deadline)
        }
        guard name.map({ sendPrepared($0, parameters) }) ?? send(sql, parameters) else { throw failure(nil) }
        roundTrips += 1
        guard awaitResult(deadline: deadline) else { throw Self.abandoned }
        guard let result = PQgetResult(handle) else { throw failure(nil) }
        // One statement, one result; reading on to the end leaves the connection ready for the next.
        while let extra = PQgetResult(handle) { PQclear(extra) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let error = failure(result)
            PQclear(result)
            throw error
        }
        return result
    }

    /// Sends `sql` as the unnamed statement: parsed, bound and run in one message exchange.
    private func send(_ sql: String, _ parameters: [UnsafePointer<CChar>?]) -> Bool {
        parameters.withUnsafeBufferPointer {
            PQsendQueryParams(handle, sql, Int32($0.count), nil, $0.baseAddress, nil, nil, 0) == 1
        }
    }

    /// Sends the prepared statement `name` with `parameters`.
    private func sendPrepared(_ name: String, _ parameters: [UnsafePointer<CChar>?]) -> Bool {
        parameters.withUnsafeBufferPointer {
            PQsendQueryPrepared(handle, name, Int32($0.count), $0.baseAddress, nil, nil, 0) == 1
        }
    }

    /// A statement sent ahead of another in its pipeline, with at most one parameter.
    private struct LeadingStatement {
        let sql: String
        let value: String?
    }

    /// Runs `leading`, then `sql` (the prepared statement `name`, or unnamed), as one pipeline closed by one
    /// Sync: one round trip. Outside a transaction block the server runs them as one implicit transaction
    /// (and pgbouncer on one server session). Returns `sql`'s result; the first failure in the pipeline is
    /// thrown, as the statements after it only report being skipped.
    private func runPipelined(
        after leading: [LeadingStatement], name: String?, sql: String, _ parameters: [UnsafePointer<CChar>?], deadline: Double
    ) throws(PostgreSQLError) -> OpaquePointer {
        guard PQenterPipelineMode(handle) == 1 else { throw failure(nil) }
        var sent = true
        for statement in leading where sent {
            sent = statement.value.map { value in value.withCString { send(statement.sql, [$0]) } } ?? send(statement.sql, [])
        }
        sent = sent && (name.map { sendPrepared($0, parameters) } ?? send(sql, parameters)) && PQpipelineSync(handle) == 1
        roundTrips += 1
        let expected = leading.count + 1
        // The first result of each statement; a NULL from libpq ends one statement's results.
        var results: [OpaquePointer] = []
        var ended = 0
        var synced = false
        while sent && !synced && !isBroken && ended <= expected {
            guard awaitResult(deadline: deadline) else { break }
            guard let result = PQgetResult(handle) else {
                ended += 1
                continue
            }
            if PQresultStatus(result) == PGRES_PIPELINE_SYNC {
                PQclear(result)
                synced = true
            } else if results.count == ended {
                results.append(result)
            } else {
                PQclear(result)
            }
        }
        let gaveUp = unusable
        if !synced || PQexitPipelineMode(handle) != 1 { unusable = true }
        guard synced, results.count == expected else {
            for result in results { PQclear(result) }
            throw gaveUp ? Self.abandoned : failure(nil)
        }
        if let failed = results.first(where: { PQresultStatus($0) != PGRES_COMMAND_OK && PQresultStatus($0) != PGRES_TUPLES_OK }) {
            let error = failure(failed)
            for result in results { PQclear(result) }
            throw error
        }
        for result in results.dropLast() { PQclear(result) }
        return results[expected - 1]
    }

    private static let setSearchPath = "SELECT set_config('search_path', $1, true)"

    /// Waits until the statement's result has arrived; false when it was given up. Past the request's deadline
    /// the server is asked to cancel it, and the result is then its `query_canceled` error (or the result, if it
    /// finished first). A cancel that reaches the server before the statement does is ignored there, so it is
    /// sent again every half second; one that nobody acts on (pgbouncer 1.18 drops the cancel of a client still
    /// waiting for a server connection) ends the wait `abandonAfterSeconds` past the deadline, and the
    /// connection, whose answer may still come, is never used again.
    private func awaitResult(deadline: Double) -> Bool {
        var lastCancel: Double?
        while PQisBusy(handle) == 1 {
            let now = Clocks.monotonicSeconds()
            let remaining = deadline - now
            if remaining <= -Self.abandonAfterSeconds {
                unusable = true
                return false
            }
            if remaining <= 0 && (lastCancel.map { now - $0 >= 0.5 } ?? true) {
                lastCancel = now
                if let cancel = PQgetCancel(handle) {
                    var reason = [CChar](repeating: 0, count: 256)
                    _ = PQcancel(cancel, &reason, Int32(reason.count))
                    PQfreeCancel(cancel)
                }
            }
            let wait = lastCancel != nil ? 500 : !remaining.isFinite ? -1 : Int32(min(remaining * 1000 + 1, 60_000))
            var socket = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            // Most answers come within a millisecond: the thread waits that long in its serving seat, so a busy
            // worker does not hand its seat to another thread and back for every statement. Past it, the seat goes.
            let brief: Int32 = wait < 0 ? 1 : min(wait, 1)
            var (polled, pollError) = (poll(&socket, 1, brief), errno)
            if polled == 0 && (wait < 0 || wait > brief) {
                let rest: Int32 = wait < 0 ? -1 : wait - brief
                (polled, pollError) = clock?.waiting { (poll(&socket, 1, rest), errno) } ?? (poll(&socket, 1, rest), errno)
            }
            if polled < 0 && pollError != EINTR { return true }
            if PQconsumeInput(handle) == 0 { return true }
        }
        return true
    }

    /// How long past the deadline a statement is waited for when its cancel has no effect.
    static let abandonAfterSeconds = 2.0

    private static let abandoned = PostgreSQLError(
        sqlState: "57014", message: "no answer \(abandonAfterSeconds) s past the request's deadline: the connection is dropped",
        connectionLost: false)

    /// Runs a statement, calling `row` for each result row.
    func query(_ sql: String, _ values: [SQLValue] = [], row: (PostgreSQLRow) throws -> Void) throws {
        let result = try run(prepared: sql, values)
        defer { PQclear(result) }
        for index in 0..<PQntuples(result) {
            try row(PostgreSQLRow(result: result, row: index))
        }
    }

    /// Runs a statement; returns the number of rows it changed (or returned).
    @discardableResult
    func run(_ sql: String, _ values: [SQLValue] = []) throws(PostgreSQLError) -> Int {
        let result = try run(prepared: sql, values)
        defer { PQclear(result) }
        return Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    /// Runs the statement once for the whole batch: each of the rows' columns goes as one array parameter
    /// (`SQLDialect.rows` unnests them), so a batch costs one round trip.
    func run(_ sql: String, fixed: [SQLValue], rows: [[SQLValue]]) throws(PostgreSQLError) {
        guard let columns = rows.first?.count else { return }
        let arrays = (0..<columns).map { column in
            SQLValue.text("{" + rows.map { $0[column].arrayElement }.joined(separator: ",") + "}")
        }
        _ = try run(sql, fixed + arrays)
    }

}
