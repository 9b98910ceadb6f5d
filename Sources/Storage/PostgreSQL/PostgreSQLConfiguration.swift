import Domain

/// Where and how to reach PostgreSQL.
public struct PostgreSQLConfiguration: Sendable {
    /// `postgres://` / `postgresql://` URL (or a libpq key=value string); holds the password, so it is never logged.
    public var url: String
    /// The schema that holds the product's tables (created by the first migration when missing).
    public var schema: String
    /// Connections one process keeps at most.
    public var poolSize: Int
    /// How long a thread waits for a free connection before the request is refused (503 `DATABASE_BUSY`).
    public var poolTimeoutSeconds: Double
    /// How often a write transaction that hit a serialization failure or deadlock is run again.
    public var transactionAttempts: Int = 5
    /// What a connection may keep between transactions: `.session` when each connection is a server
    /// session of its own, `.transaction` behind a pooler (pgbouncer) in transaction pooling mode.
    public var poolMode: PostgreSQLPoolMode = .session

    public init(url: String, schema: String = "ftapi", poolSize: Int = 16, poolTimeoutSeconds: Double = 5) {
        self.url = url
        self.schema = schema
        self.poolSize = max(1, poolSize)
        self.poolTimeoutSeconds = poolTimeoutSeconds
    }

    /// Whether `url` names PostgreSQL (`postgres://` or `postgresql://`).
    public static func isPostgresURL(_ url: String) -> Bool {
        url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")
    }

    /// The URL with its password replaced by `***`, for logs and errors.
    public var redactedURL: String { Self.redacted(url) }

    public static func redacted(_ url: String) -> String {
        var bytes = Array(url.utf8)
        // postgres://user:PASSWORD@host… — the password sits between the first ':' after the scheme and the '@'.
        if let scheme = find(Array("://".utf8), in: bytes), let at = bytes[(scheme + 3)...].firstIndex(of: UInt8(ascii: "@")),
            let colon = bytes[(scheme + 3)..<at].firstIndex(of: UInt8(ascii: ":"))
        {
            bytes.replaceSubrange((colon + 1)..<at, with: Array("***".utf8))
        }
        // …?password=PASSWORD&… or key=value strings.
        if let key = find(Array("password=".utf8), in: bytes) {
            let start = key + 9
            let end = bytes[start...].firstIndex { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: " ") } ?? bytes.endIndex
            bytes.replaceSubrange(start..<end, with: Array("***".utf8))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// Whether `schema` is a plain lowercase identifier (it is put into SQL as a quoted identifier).
    public static func isValidSchema(_ schema: String) -> Bool {
        guard let first = schema.utf8.first, (97...122).contains(first) || first == 95, schema.utf8.count <= 63 else { return false }
        return schema.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }
    }
}

/// What the store may leave in a server session between its transactions (`DATABASE_POOL_MODE`).
public enum PostgreSQLPoolMode: String, Sendable, CaseIterable {
    /// Each connection is a session of its own (directly to PostgreSQL, or a pooler in session mode):
    /// the search path is set once per connection and statements are prepared once per connection.
    case session
    /// Behind a pooler in transaction mode, where consecutive transactions of one connection may run on
    /// different server sessions: nothing is kept in the session. Statements go as unnamed ones (parsed at
    /// each run) and every transaction sets its own search path (`SET LOCAL`).
    case transaction
}

/// How identifiers appear in the PostgreSQL store's SQL.
enum PostgreSQLSchema {
    /// `name` as a quoted identifier (`name` is checked by `isValidSchema` first).
    static func quoted(_ name: String) -> String {
        "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
