private import CLibPQ
import Foundation
public import Storage

/// Migrated databases for tests, without a migration for each test: the first test of a process that asks for one
/// migrates a template (a SQLite file, a PostgreSQL schema), and every test gets a copy of it.
///
/// A SQLite copy is one file write instead of a migration's DDL. A PostgreSQL clone is one statement that makes the
/// template's objects again: as much DDL as a migration, but on a connection kept for the process (a test's
/// migration opened a store of its own, and its drop another), committed without waiting for the flush to disk (a
/// test's schema needs no durability), and not queued behind the advisory lock that every migration on the server
/// takes. `TestDatabaseCost` measures both ways.
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

    /// Makes `configuration.schema` (which must not exist) a copy of the process's migrated template schema, in
    /// the server and pool mode `configuration` names.
    public static func clonePostgreSQLTemplate(into configuration: PostgreSQLConfiguration) throws {
        let server = PostgreSQLTemplate.server(url: configuration.url, mode: configuration.poolMode)
        let template = try server.template()
        try server.execute(PostgreSQLTemplate.cloneSQL(from: template, to: configuration.schema))
    }

    /// Drops `configuration.schema` and everything in it; a schema already gone is no error.
    public static func dropPostgreSQLSchema(_ configuration: PostgreSQLConfiguration) throws {
        let server = PostgreSQLTemplate.server(url: configuration.url, mode: configuration.poolMode)
        try server.execute(PostgreSQLTemplate.dropSQL(configuration.schema))
    }

    /// Lines that describe a schema's objects (each table's columns, every constraint, index, trigger and function,
    /// any other object) with the schema's own name written `SCHEMA`, then the versions in its `schema_migrations`:
    /// two schemas with the same lines hold the same objects.
    public static func describePostgreSQLSchema(_ configuration: PostgreSQLConfiguration) throws -> [String] {
        let server = PostgreSQLTemplate.server(url: configuration.url, mode: configuration.poolMode)
        let schema = PostgreSQLTemplate.identifier(configuration.schema)
        return try server.rows(PostgreSQLTemplate.describeSQL(configuration.schema))
            + server.rows("SELECT 'version ' || version FROM \(schema).schema_migrations ORDER BY version")
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

    public var description: String {
        switch self {
        case .failed(let message): message
        }
    }
}

/// One server's template schema, and a connection of its own for cloning and dropping: one statement at a time,
/// under its lock (a clone is one round trip).
final class PostgreSQLTemplate: @unchecked Sendable {
    // @unchecked: `connection` and `templateSchema` are only reached under `lock`.
    private let url: String
    private let mode: PostgreSQLPoolMode
    private let lock = NSLock()
    private var connection: OpaquePointer?
    private var templateSchema: Result<String, any Error>?

    private init(url: String, mode: PostgreSQLPoolMode) {
        self.url = url
        self.mode = mode
    }

    private static let servers = Guarded<[String: PostgreSQLTemplate]>([:])

    static func server(url: String, mode: PostgreSQLPoolMode) -> PostgreSQLTemplate {
        servers.withLock { servers in
            let key = mode.rawValue + " " + url
            if let server = servers[key] { return server }
            let server = PostgreSQLTemplate(url: url, mode: mode)
            if servers.isEmpty {
                // The templates go when the test process exits (the throwaway server of deploy/test.sh goes anyway).
                atexit { PostgreSQLTemplate.dropTemplates() }
            }
            servers[key] = server
            return server
        }
    }

    private static func dropTemplates() {
        for server in servers.withLock({ Array($0.values) }) {
            guard case .success(let schema) = server.lock.withLock({ server.templateSchema }) else { continue }
            try? server.execute(dropSQL(schema))
        }
    }

    /// The template schema, migrated by the first caller in this process.
    func template() throws -> String {
        try lock.withLock {
            if templateSchema == nil {
                templateSchema = Result {
                    let schema = "template_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
                    var configuration = PostgreSQLConfiguration(url: url, schema: schema, poolSize: 1)
                    configuration.poolMode = mode
                    try PostgreSQLStore(configuration: configuration).migrate()
                    return schema
                }
            }
            return try templateSchema!.get()
        }
    }

    /// Runs `sql` (statements without parameters) on the template's connection, connecting again once if it was lost.
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
        default: throw TestDatabaseError.failed(String(cString: PQresultErrorMessage(result)))
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

    /// `schema` as a string literal.
    static func literal(_ schema: String) -> String { "'" + schema.replacingOccurrences(of: "'", with: "''") + "'" }

    /// One statement, so one round trip and one transaction: reads the template's objects from the catalog and
    /// creates them again in `target` (tables with their columns, defaults and checks; their rows, before the keys
    /// and triggers; primary, unique and foreign keys under their names; the other indexes; functions; triggers),
    /// with the template's name replaced by the target's where the definitions spell it. Refuses a template holding
    /// anything else (a sequence, a view, a type of its own): a migration that adds one must teach this to copy it.
    /// The commit does not wait for its flush to disk: a test's schema needs no durability.
    static func cloneSQL(from source: String, to target: String) -> String {
        """
        DO $clone$
        DECLARE
            source constant text := \(literal(source));
            target constant text := \(literal(target));
            tables text[];
            statements text[];
            statement text;
        BEGIN
            PERFORM set_config('synchronous_commit', 'off', true);
            IF EXISTS (SELECT FROM pg_class WHERE relnamespace = source::regnamespace AND relkind NOT IN ('r', 'i', 't'))
                OR EXISTS (SELECT FROM pg_type WHERE typnamespace = source::regnamespace AND typtype IN ('d', 'e', 'r', 'm'))
                OR EXISTS (SELECT FROM pg_proc WHERE pronamespace = source::regnamespace AND prokind <> 'f')
            THEN
                RAISE EXCEPTION 'the template schema % holds objects that the test clone does not copy', source;
            END IF;
            SELECT array_agg(relname ORDER BY relname) INTO tables
                FROM pg_class WHERE relnamespace = source::regnamespace AND relkind = 'r';
            -- Written with the template first on the search path: the definitions then name its objects unqualified.
            PERFORM set_config('search_path', quote_ident(source), true);
            statements := ARRAY[format('CREATE SCHEMA %I', target)]
                || ARRAY(SELECT format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED '
                                       'INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS)', target, t, source, t)
                         FROM unnest(tables) t)
                || ARRAY(SELECT format('INSERT INTO %I.%I SELECT * FROM %I.%I', target, t, source, t) FROM unnest(tables) t)
                || ARRAY(SELECT format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', target, c.relname, k.conname, pg_get_constraintdef(k.oid))
                         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                         WHERE k.connamespace = source::regnamespace AND k.contype IN ('p', 'u', 'x', 'f')
                         ORDER BY k.contype = 'f', c.relname, k.conname)
                || ARRAY(SELECT replace(pg_get_indexdef(i.indexrelid), ' ON ' || quote_ident(source) || '.', ' ON ' || quote_ident(target) || '.')
                         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                         WHERE c.relnamespace = source::regnamespace
                             AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')))
                || ARRAY(SELECT replace(pg_get_functiondef(p.oid), 'FUNCTION ' || quote_ident(source) || '.', 'FUNCTION ' || quote_ident(target) || '.')
                         FROM pg_proc p WHERE p.pronamespace = source::regnamespace)
                || ARRAY(SELECT replace(pg_get_triggerdef(t.oid), ' ON ' || quote_ident(source) || '.', ' ON ' || quote_ident(target) || '.')
                         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                         WHERE c.relnamespace = source::regnamespace AND NOT t.tgisinternal);
            -- Run with the target first: what a definition names unqualified is the target's.
            PERFORM set_config('search_path', quote_ident(target), true);
            FOREACH statement IN ARRAY statements LOOP
                EXECUTE statement;
            END LOOP;
        END
        $clone$
        """
    }

    static func describeSQL(_ schema: String) -> String {
        let name = literal(schema)
        return """
            SELECT replace(item, \(literal(schema + ".")), 'SCHEMA.') FROM (
                SELECT 'column ' || format('%s.%s %s not null %s default %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                                           a.attnotnull, pg_get_expr(d.adbin, d.adrelid)) AS item
                    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                    WHERE c.relnamespace = \(name)::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
                UNION ALL SELECT 'constraint ' || format('%s %s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
                    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE k.connamespace = \(name)::regnamespace
                UNION ALL SELECT 'index ' || pg_get_indexdef(i.indexrelid)
                    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = \(name)::regnamespace
                UNION ALL SELECT 'trigger ' || pg_get_triggerdef(t.oid)
                    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = \(name)::regnamespace AND NOT t.tgisinternal
                UNION ALL SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.pronamespace = \(name)::regnamespace
                UNION ALL SELECT 'object ' || c.relkind::text || ' ' || c.relname
                    FROM pg_class c WHERE c.relnamespace = \(name)::regnamespace AND c.relkind NOT IN ('r', 'i')
            ) items ORDER BY 1
            """
    }
}
