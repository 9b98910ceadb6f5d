/// One connection, as the stores use it: statements with `$n` parameters (`SQLDialect`), never a value spliced in.
protocol SQLConnection {
    associatedtype Row: StoredRow
    /// Runs a statement, calling `row` for each result row.
    func query(_ sql: String, _ values: [SQLValue], row: (Row) throws -> Void) throws
    /// Runs a statement; returns the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [SQLValue]) throws -> Int
    /// Runs a statement whose rows come from `SQLDialect.rows` for every row of `rows`, after the `fixed` values
    /// (its first parameters, the same for every row). Every row has one value per column; no rows, no statement.
    func run(_ sql: String, fixed: [SQLValue], rows: [[SQLValue]]) throws
}

extension SQLConnection {
    /// The first row mapped by `transform`, or nil.
    func first<T>(_ sql: String, _ values: [SQLValue] = [], _ transform: (Row) throws -> T) throws -> T? {
        var result: T?
        try query(sql, values) { row in
            if result == nil { result = try transform(row) }
        }
        return result
    }
}

/// A database as the stores use it: the dialect their statements are written in, and the three kinds of
/// transaction. Each backend's errors come out of these as `StoreError`.
protocol SQLDatabase: AnyObject, Sendable {
    associatedtype Connection: SQLConnection
    var dialect: SQLDialect { get }
    /// Runs `body` for one statement's read (a store method that reads more than once uses `snapshot`).
    func read<T>(_ body: (Connection) throws -> T) throws -> T
    /// Runs `body` in a read transaction: all its statements read one snapshot.
    func snapshot<T>(_ body: (Connection) throws -> T) throws -> T
    /// Runs `body` in a write transaction; concurrent writers of one row are applied one after the other.
    /// `body` may run more than once (a backend retries a transaction that conflicted), so it changes nothing
    /// outside the database.
    func write<T>(_ body: (Connection) throws -> T) throws -> T
}
