import Domain

/// A statement's parameter, as the stores hand it to either backend: SQLite binds it in its own type (a flag as
/// 0 or 1), PostgreSQL sends its text and lets the server cast it to the column's type.
enum SQLValue: Sendable, Equatable {
    case integer(Int64)
    case real(Double)
    case text(String)
    case bool(Bool)
    case null
}

extension Optional where Wrapped == String {
    var sql: SQLValue { map(SQLValue.text) ?? .null }
}

extension Optional where Wrapped == Int64 {
    var sql: SQLValue { map(SQLValue.integer) ?? .null }
}

extension Optional where Wrapped == Double {
    var sql: SQLValue { map(SQLValue.real) ?? .null }
}

extension Optional where Wrapped == Bool {
    var sql: SQLValue { map(SQLValue.bool) ?? .null }
}

extension Timestamp {
    /// Milliseconds since the epoch: how both backends take a point in time (`SQLDialect.timestamp`).
    var sql: SQLValue { .integer(millisecondsSinceEpoch) }
}

extension Optional where Wrapped == Timestamp {
    var sql: SQLValue { map(\.sql) ?? .null }
}
