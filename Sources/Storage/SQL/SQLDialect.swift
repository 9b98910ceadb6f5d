import Essentials

/// The few spellings in which SQLite and PostgreSQL differ, so that each store writes each statement once for
/// both. Statements number their parameters `$1`, `$2`, … (PostgreSQL's form; the SQLite connection reads them
/// as its `?1`, `?2`, …), take and read points in time as milliseconds since the epoch through `timestamp` and
/// `milliseconds`, and write casts as `CAST(x AS BIGINT)` or `CAST(x AS DOUBLE PRECISION)`, which both know.
struct SQLDialect: Sendable {
    enum Backend: Sendable {
        case sqlite, postgresql
    }

    let backend: Backend

    static let sqlite = SQLDialect(backend: .sqlite)
    static let postgresql = SQLDialect(backend: .postgresql)

    // MARK: Values

    /// Parameter `$n`, which holds milliseconds since the epoch, as a point in time (SQLite keeps the milliseconds).
    func timestamp(_ n: Int) -> String {
        backend == .sqlite ? "$\(n)" : "to_timestamp($\(n)::float8 / 1000)"
    }

    /// A point in time (a column or an expression) read as milliseconds since the epoch.
    func milliseconds(_ expression: String) -> String {
        backend == .sqlite ? expression : "(extract(epoch FROM \(expression)) * 1000)::int8"
    }

    /// The sum of an integer column, held at `Int64.max` instead of failing (0 over no rows).
    func saturatingSum(_ column: String) -> String {
        // SQLite's total() sums in floating point, and its CAST to INTEGER saturates.
        backend == .sqlite ? "CAST(total(\(column)) AS INTEGER)" : "least(coalesce(sum(\(column)), 0), 9223372036854775807)::int8"
    }

    /// The larger of two values, a NULL one left out.
    func greatest(_ a: String, _ b: String) -> String {
        backend == .sqlite ? "max(coalesce(\(a), \(b)), coalesce(\(b), \(a)))" : "greatest(\(a), \(b))"
    }

    /// `LIMIT`'s value: a negative limit is none (SQLite's reading; PostgreSQL's is NULL).
    func limit(_ limit: Int) -> SQLValue {
        backend == .postgresql && limit < 0 ? .null : .integer(Int64(limit))
    }

    /// Whether `id` can name a row: PostgreSQL's `uuid` columns refuse any other text, where SQLite finds no row.
    func canName(_ id: String) -> Bool {
        backend == .sqlite || isCanonicalUUID(id)
    }

    // MARK: Clauses

    /// Locks the rows read until the transaction ends. SQLite's write transactions hold the whole database's
    /// write lock from their start (`BEGIN IMMEDIATE`), which already orders them.
    var forUpdate: String { backend == .sqlite ? "" : " FOR UPDATE" }

    /// Locks the rows read until the transaction ends, leaving out those another transaction has locked, so that
    /// concurrent claimers never wait on each other (SQLite: `forUpdate`).
    var forUpdateSkipLocked: String { backend == .sqlite ? "" : " FOR UPDATE SKIP LOCKED" }

    /// A statement whose one row is true when this transaction is the only one to hold the lock `key` until it
    /// ends, false when another holds it (without waiting); nil for SQLite, whose write transactions are one at a time.
    func tryTransactionLock(_ key: Int64) -> String? {
        backend == .sqlite ? nil : "SELECT pg_try_advisory_xact_lock(\(key))"
    }

    /// Keeps the rows read from being deleted (or their key changed) until the transaction ends.
    var forKeyShare: String { backend == .sqlite ? "" : " FOR KEY SHARE" }

    /// Orders text by its bytes, as SQLite's default collation does.
    var byteOrder: String { backend == .sqlite ? "" : " COLLATE \"C\"" }

    /// SQLite's planner hint to read a table through `index`; PostgreSQL's planner takes none.
    func indexedBy(_ index: String) -> String {
        backend == .sqlite ? " INDEXED BY \(index)" : ""
    }

    // MARK: Schema

    /// The column type that holds values of `type`.
    func columnType(_ type: BatchColumn.ValueType) -> String {
        switch (backend, type) {
        case (.sqlite, .integer), (.sqlite, .timestamp): "INTEGER"
        case (.sqlite, .real): "REAL"
        case (.sqlite, .text), (.sqlite, .uuid): "TEXT"
        case (.postgresql, .integer): "bigint"
        case (.postgresql, .real): "double precision"
        case (.postgresql, .text): "text"
        case (.postgresql, .uuid): "uuid"
        case (.postgresql, .timestamp): "timestamptz"
        }
    }

    /// What ends a CREATE TABLE whose primary key is its storage order (SQLite's `WITHOUT ROWID`).
    var withoutRowID: String { backend == .sqlite ? " WITHOUT ROWID" : "" }

    // MARK: Columns

    /// What a SELECT lists for `column` (by its name), so that the row reader finds its value.
    func selected<Column: TableColumn>(_ column: Column) -> String {
        guard backend == .postgresql else { return column.name }
        if column.isTimestamp { return milliseconds(column.name) }
        return column.isJSON ? "\(column.name)::text" : column.name
    }

    /// `a, b, c`: every column of a table as a SELECT reads it, in row order. Build statements once, not per call.
    func selectList<Column: TableColumn>(_: Column.Type) -> String {
        Column.allCases.map(selected).joined(separator: ", ")
    }

    /// Every column of a query's result, in row order.
    func selectList<Column: QueryColumn>(_: Column.Type) -> String {
        Column.allCases.map { $0.expression(self) }.joined(separator: ", ")
    }

    /// `a, b, c`: every column's name, for an INSERT.
    func names<Column: TableColumn>(_: Column.Type) -> String {
        Column.allCases.map(\.name).joined(separator: ", ")
    }

    /// Parameter `$n` as a value of `column`.
    func parameter<Column: TableColumn>(_ column: Column, _ n: Int) -> String {
        column.isTimestamp ? timestamp(n) : "$\(n)"
    }

    /// `$1, $2, …`: one parameter per column of a table, in row order, for an INSERT of `names`.
    func parameters<Column: TableColumn>(_: Column.Type) -> String {
        Column.allCases.map { parameter($0, Int($0.rawValue) + 1) }.joined(separator: ", ")
    }

    /// `a = $first, b = $(first + 1), …`: an UPDATE's assignments of `columns`, in their order.
    func assignments<Column: TableColumn>(_ columns: [Column], from first: Int) -> String {
        columns.enumerated().map { "\($0.element.name) = \(parameter($0.element, first + $0.offset))" }.joined(separator: ", ")
    }

    // MARK: Batches

    /// The SELECT whose rows are a batch (`SQLConnection.run(_:fixed:rows:)`): the `fixed` columns' values, the same
    /// in every row, are parameters `$first`, …; each other column's follow. Columns are named as given.
    /// PostgreSQL takes the batch in one statement, one array parameter per column, unnested into rows;
    /// SQLite, in process, runs the one-row statement once per row.
    func rows(fixed: [BatchColumn] = [], _ columns: [BatchColumn], from first: Int = 1) -> String {
        let all = fixed + columns
        guard backend == .postgresql else {
            return "SELECT " + all.enumerated().map { "$\(first + $0.offset) AS \($0.element.name)" }.joined(separator: ", ") + " WHERE true"
        }
        let fixedValues = fixed.enumerated().map { "\($0.element.type.cast("$\(first + $0.offset)")) AS \($0.element.name)" }
        let rowValues = columns.map { $0.type == .timestamp ? "\($0.type.cast("p.\($0.name)")) AS \($0.name)" : "p.\($0.name)" }
        let arrays = columns.enumerated().map { "$\(first + fixed.count + $0.offset)::\($0.element.type.arrayType)" }
        return "SELECT \((fixedValues + rowValues).joined(separator: ", ")) FROM unnest(\(arrays.joined(separator: ", "))) "
            + "AS p(\(columns.map(\.name).joined(separator: ", "))) WHERE true"
    }
}

/// A column of a batch's rows (`SQLDialect.rows`).
struct BatchColumn: Sendable {
    enum ValueType: Sendable {
        case integer, real, text, uuid
        /// Milliseconds since the epoch, stored as a point in time.
        case timestamp

        /// PostgreSQL's type of the array that carries a column of this type.
        var arrayType: String {
            switch self {
            case .integer, .timestamp: "int8[]"
            case .real: "float8[]"
            case .text: "text[]"
            case .uuid: "uuid[]"
            }
        }

        /// `value` (a PostgreSQL parameter or array element) as a value of this type.
        func cast(_ value: String) -> String {
            switch self {
            case .integer: "\(value)::int8"
            case .real: "\(value)::float8"
            case .text: "\(value)::text"
            case .uuid: "\(value)::uuid"
            case .timestamp: "to_timestamp(\(value)::float8 / 1000)"
            }
        }
    }

    let name: String
    let type: ValueType

    init(_ name: String, _ type: ValueType) {
        self.name = name
        self.type = type
    }
}

/// A column of a table that records are read from and written to: a case's raw value is its index in a row
/// selected with `SQLDialect.selectList`, so the statement and the reader can't disagree.
protocol TableColumn: CaseIterable, RawRepresentable<Int32>, Sendable {
    /// The column's name in its table.
    var name: String { get }
    /// Whether the column is a point in time (milliseconds in SQLite, `timestamptz` in PostgreSQL).
    var isTimestamp: Bool { get }
    /// Whether the column is JSON (text in SQLite, `jsonb` in PostgreSQL, read as its text).
    var isJSON: Bool { get }
}

extension TableColumn {
    var isJSON: Bool { false }
}

/// A column of a query's result (an aggregate, a computed figure), in row order like a `TableColumn`.
protocol QueryColumn: CaseIterable, RawRepresentable<Int32>, Sendable {
    /// The expression the SELECT lists for the column.
    func expression(_ dialect: SQLDialect) -> String
}
