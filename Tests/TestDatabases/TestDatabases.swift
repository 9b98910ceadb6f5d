private import CLibPQ
import Foundation
public import Storage

/// Migrated databases for tests, without a migration for each test.
///
/// SQLite: the first test of a process that asks for one migrates a template file, and every test gets a copy of it
/// (one file write instead of a migration's DDL).
///
/// PostgreSQL: a schema can be copied only by making its objects again, which costs what the migration's DDL costs
/// (and a database copied with `CREATE DATABASE … TEMPLATE` costs more, and is out of reach through pgbouncer, which
/// serves one database). So the process keeps the schemas its tests give back, emptied, and hands them out again:
/// a test gets a migrated schema of its own with no data, and only the first tests running at once wait for
/// migrations. A schema whose objects its test changed is dropped, not reused. `TestDatabaseCost` measures each way.
///
/// Tests of migrating itself make their databases empty and migrate them as before.
public enum TestDatabases {
    // MARK: SQLite

    /// Writes a migrated database file at `path` (which must not exist): a copy of the process's template.
    public static func copySQLiteTemplate(to path: String) throws {
        let template = try SQLiteTemplate.bytes.get()
        guard FileManager.default.createFile(atPath: path, contents: template) else {
            throw TestDatabaseError.failed("cannot write \(path)")
        }
    }

    private enum SQLiteTemplate {
        /// The template's bytes, migrated once per process.
        static let bytes = Result<Data, any Error> {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/template.db"
            // On a thread of its own, whose connection closes when the thread ends: the last connection to
            // close checkpoints the WAL into the file and removes it, so the file alone is the whole database.
            let migrated = Guarded<Result<Void, any Error>?>(nil)
            let done = DispatchSemaphore(value: 0)
            Thread {
                let result = Result { try SQLiteStore(configuration: SQLiteConfiguration(path: path)).migrate() }
                migrated.withLock { $0 = result }
                done.signal()
            }.start()
            done.wait()
            try migrated.withLock { $0! }.get()
            // The thread's connection closes just after the thread signalled: wait for the WAL to go.
            for _ in 0..<1_000 where FileManager.default.fileExists(atPath: path + "-wal") { usleep(1_000) }
            guard !FileManager.default.fileExists(atPath: path + "-wal") else {
                throw TestDatabaseError.failed("the template's WAL was not checkpointed into its file")
            }
            return try Data(contentsOf: URL(fileURLWithPath: path))
        }
    }

    private static func temporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/ftapi-template-XXXXXX").utf8CString)
        guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestDatabaseError.failed("mkdtemp: \(String(cString: strerror(errno)))")
        }
        return String(cString: path)
    }

    // MARK: PostgreSQL

    /// Sets `configuration.schema` to a migrated schema of this test's own, without rows, in the server and pool mode
    /// `configuration` names: one that another test of the process gave back, else a new one, migrated. Give it back
    /// with `givePostgreSQLSchemaBack` once nothing uses it any more.
    public static func takePostgreSQLSchema(for configuration: inout PostgreSQLConfiguration) throws {
        configuration.schema = try PostgreSQLSchemaPool.of(configuration).take()
    }

    /// Empties `configuration.schema` and keeps it for the next test that takes one; drops it instead when its objects
    /// are no longer the migration's (its test changed them), or when it cannot be emptied.
    public static func givePostgreSQLSchemaBack(_ configuration: PostgreSQLConfiguration) {
        PostgreSQLSchemaPool.of(configuration).giveBack(configuration.schema)
    }

    /// Deletes every row of `configuration.schema` but its schema versions, as giving it back does; false (and nothing
    /// deleted) when its objects are not the migration's.
    public static func emptyPostgreSQLSchema(_ configuration: PostgreSQLConfiguration) throws -> Bool {
        try PostgreSQLSchemaPool.of(configuration).empty(configuration.schema)
    }

    /// Drops `configuration.schema` and everything in it; a schema already gone is no error.
    public static func dropPostgreSQLSchema(_ configuration: PostgreSQLConfiguration) throws {
        try PostgreSQLSchemaPool.of(configuration).execute(PostgreSQLSchemaPool.dropSQL(configuration.schema))
    }
}

/// A value that threads share, behind a lock.
final class Guarded<Value>: @unchecked Sendable {
    // @unchecked: `value` is only reached under `lock`.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

public enum TestDatabaseError: Error, CustomStringConvertible {
    case failed(String)
    /// A schema given back is not the migration's any more.
    case changed

    public var description: String {
        switch self {
        case .failed(let message): message
        case .changed: "the schema's objects are not the migration's"
        }
    }
}

/// One server's schemas given back by tests, and a connection of its own to empty and drop them: one statement at a
/// time, under its lock (emptying a schema is one round trip).
final class PostgreSQLSchemaPool: @unchecked Sendable {
    // @unchecked: everything mutable is only reached under `lock`.
    private let url: String
    private let mode: PostgreSQLPoolMode
    private let lock = NSLock()
    private var connection: OpaquePointer?
    /// Schemas given back, emptied.
    private var free: [String] = []
    /// Every schema this process made, dropped at its exit.
    private var made: Set<String> = []
    /// What a migrated schema holds, read from the first one made.
    private var shape: Shape?

    /// What the migration makes, as far as emptying a schema is concerned.
    struct Shape {
        /// Counts of the schema's objects and its schema versions: a schema whose fingerprint differs was changed.
        var fingerprint: String
        /// The tables whose rows go, each after every table whose foreign keys refer to it; nil when the schema can't
        /// be emptied by deleting rows (a sequence or a view would keep state; foreign keys in a cycle), so that
        /// schemas given back are dropped.
        var deletions: [String]?
    }

    private init(url: String, mode: PostgreSQLPoolMode) {
        self.url = url
        self.mode = mode
    }

    private static let pools = Guarded<[String: PostgreSQLSchemaPool]>([:])

    /// The pool of the server and pool mode `configuration` names.
    static func of(_ configuration: PostgreSQLConfiguration) -> PostgreSQLSchemaPool {
        pools.withLock { pools in
            let key = configuration.poolMode.rawValue + " " + configuration.url
            if let pool = pools[key] { return pool }
            let pool = PostgreSQLSchemaPool(url: configuration.url, mode: configuration.poolMode)
            if pools.isEmpty {
                // The schemas go when the test process exits (the throwaway server of deploy/test.sh goes anyway).
                atexit { PostgreSQLSchemaPool.dropAll() }
            }
            pools[key] = pool
            return pool
        }
    }

    private static func dropAll() {
        for pool in pools.withLock({ Array($0.values) }) {
            for schema in pool.lock.withLock({ pool.made }) { try? pool.execute(dropSQL(schema)) }
        }
    }

    func take() throws -> String {
        if let schema = lock.withLock({ free.popLast() }) { return schema }
        let schema = "pool_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        var configuration = PostgreSQLConfiguration(url: url, schema: schema, poolSize: 1)
        configuration.poolMode = mode
        lock.withLock { _ = made.insert(schema) }
        try PostgreSQLStore(configuration: configuration).migrate()
        if lock.withLock({ shape == nil }) {
            let shape = try readShape(of: schema)
            lock.withLock { self.shape = self.shape ?? shape }
        }
        return schema
    }

    func giveBack(_ schema: String) {
        if (try? empty(schema)) == true {
            lock.withLock { free.append(schema) }
        } else if (try? execute(Self.dropSQL(schema))) != nil {
            lock.withLock { _ = made.remove(schema) }
        }
    }

    func empty(_ schema: String) throws -> Bool {
        guard let shape = lock.withLock({ shape }), let deletions = shape.deletions else { return false }
        do {
            try execute(Self.emptySQL(schema, deleting: deletions, fingerprint: shape.fingerprint))
            return true
        } catch TestDatabaseError.changed {
            return false
        }
    }

    private func readShape(of schema: String) throws -> Shape {
        let fingerprint = try rows(Self.fingerprintSQL(schema)).first ?? ""
        let name = Self.literal(schema)
        let others = try rows("SELECT relname FROM pg_class WHERE relnamespace = \(name)::regnamespace AND relkind NOT IN ('r', 'i')")
        let tables = try rows(
            "SELECT relname FROM pg_class WHERE relnamespace = \(name)::regnamespace AND relkind = 'r' AND relname <> 'schema_migrations'")
        // Each row: a table, and a table its foreign key refers to.
        let references = try rows(
            """
            SELECT c.relname || ' ' || p.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                JOIN pg_class p ON p.oid = k.confrelid
            WHERE k.connamespace = \(name)::regnamespace AND k.contype = 'f' AND k.conrelid <> k.confrelid
            """
        ).map { $0.split(separator: " ").map(String.init) }
        guard others.isEmpty else { return Shape(fingerprint: fingerprint, deletions: nil) }
        // A table's rows go once no table left refers to it.
        var left = Set(tables)
        var deletions: [String] = []
        while !left.isEmpty {
            let ready = left.filter { table in !references.contains { $0[1] == table && left.contains($0[0]) } }.sorted()
            guard !ready.isEmpty else { return Shape(fingerprint: fingerprint, deletions: nil) }
            deletions += ready
            left.subtract(ready)
        }
        return Shape(fingerprint: fingerprint, deletions: deletions)
    }

    /// Runs `sql` (statements without parameters) on the pool's connection, connecting again once if it was lost.
    func execute(_ sql: String) throws {
        _ = try rows(sql)
    }

    /// Runs `sql` and returns the first column of its last result's rows.
    func rows(_ sql: String) throws -> [String] {
        try lock.withLock {
            do {
                return try run(sql)
            } catch {
                // A connection lost (a server restarted under another test) is made again, once.
                guard let lost = connection, PQstatus(lost) != CONNECTION_OK else { throw error }
                PQfinish(lost)
                connection = nil
                return try run(sql)
            }
        }
    }

    private func run(_ sql: String) throws -> [String] {
        if connection == nil {
            guard let handle = PQconnectdb(url) else { throw TestDatabaseError.failed("PQconnectdb: out of memory") }
            guard PQstatus(handle) == CONNECTION_OK else {
                let message = String(cString: PQerrorMessage(handle))
                PQfinish(handle)
                throw TestDatabaseError.failed("connecting for the test databases: \(message)")
            }
            connection = handle
        }
        guard let result = PQexec(connection, sql) else { throw TestDatabaseError.failed(String(cString: PQerrorMessage(connection))) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK: return []
        case PGRES_TUPLES_OK: return (0..<PQntuples(result)).map { String(cString: PQgetvalue(result, $0, 0)) }
        default:
            let message = String(cString: PQresultErrorMessage(result))
            throw message.contains(Self.changedMarker) ? TestDatabaseError.changed : TestDatabaseError.failed(message)
        }
    }

    static func dropSQL(_ schema: String) -> String {
        """
        BEGIN; SET LOCAL synchronous_commit TO off; SET LOCAL client_min_messages TO warning;
        DROP SCHEMA IF EXISTS \(identifier(schema)) CASCADE; COMMIT
        """
    }

    /// `schema` as a quoted identifier (test schemas are plain lowercase names; anything else is refused by the store).
    static func identifier(_ schema: String) -> String { "\"" + schema.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// `text` as a string literal.
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    /// One row: how many relations (tables, indexes), columns, constraints, triggers and functions `schema` holds,
    /// and its schema versions.
    static func fingerprintSQL(_ schema: String) -> String {
        let name = literal(schema)
        return """
            SELECT format('%s relations, %s columns, %s constraints, %s triggers, %s functions; versions %s',
                (SELECT count(*) FROM pg_class WHERE relnamespace = \(name)::regnamespace),
                (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                    WHERE c.relnamespace = \(name)::regnamespace AND a.attnum > 0 AND NOT a.attisdropped),
                (SELECT count(*) FROM pg_constraint WHERE connamespace = \(name)::regnamespace),
                (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                    WHERE c.relnamespace = \(name)::regnamespace AND NOT t.tgisinternal),
                (SELECT count(*) FROM pg_proc WHERE pronamespace = \(name)::regnamespace),
                (SELECT string_agg(version::text, ',' ORDER BY version) FROM \(identifier(schema)).schema_migrations))
            """
    }

    /// What the emptying statement raises when the schema is not the migration's any more.
    static let changedMarker = "ftapi test schema changed"

    /// One statement, so one round trip and one transaction: checks that `schema` still holds what a migration makes,
    /// then deletes its rows, tables referred to last. With the schema first on the search path, as the store's
    /// transactions have it: the status counts' trigger names its table unqualified. The commit does not wait for
    /// its flush to disk: a test's schema needs no durability.
    static func emptySQL(_ schema: String, deleting tables: [String], fingerprint: String) -> String {
        """
        DO $empty$
        DECLARE
            found text;
        BEGIN
            PERFORM set_config('synchronous_commit', 'off', true);
            PERFORM set_config('search_path', \(literal(identifier(schema))), true);
            EXECUTE \(literal(fingerprintSQL(schema))) INTO found;
            IF found IS DISTINCT FROM \(literal(fingerprint)) THEN
                RAISE EXCEPTION '\(changedMarker): %', found;
            END IF;
        \(tables.map { "    DELETE FROM \(identifier(schema)).\(identifier($0));" }.joined(separator: "\n"))
        END
        $empty$
        """
    }
}
