import Domain
import Foundation
import Storage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real nginx in front of the real worker pool on a real SQLite file in a
/// temp directory: started for a test, stopped (and cleaned up) after it.
final class TestCluster: @unchecked Sendable {
    // @unchecked: load threads only read immutable properties (the port).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let jwtSecret = "integration-test-secret-0123456789abcdef"

    /// The ftapi binary: FTAPI_BIN, else the debug build.
    static var binary: String {
        ProcessInfo.processInfo.environment["FTAPI_BIN"] ?? repository.appendingPathComponent(".build/debug/ftapi").path
    }

    let directory: String
    let socketPath: String
    let databasePath: String
    let port: UInt16
    let poolLogPath: String
    private(set) var pool: Process?
    private var nginx: Process?
    private var poolLog: FileHandle?
    let workers: Int
    let threads: Int
    /// The PostgreSQL schema this cluster's pool uses (`FTAPI_TEST_BACKEND=postgres`), or nil on SQLite.
    let databaseSchema: String?

    /// `postgres` when the suite runs against the PostgreSQL server in `FTAPI_TEST_DATABASE_URL`.
    static var usesPostgres: Bool {
        ProcessInfo.processInfo.environment["FTAPI_TEST_BACKEND"] == "postgres" && postgresURL != nil
    }

    static var postgresURL: String? { ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"] }
    /// `transaction` when `FTAPI_TEST_DATABASE_URL` is pgbouncer in transaction mode (`FTAPI_TEST_DATABASE_POOL_MODE`).
    static var postgresPoolMode: String? { ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_POOL_MODE"] }

    /// The master's status listener (loopback TCP), when the cluster was started with one.
    let statusPort: UInt16?

    /// Starts the pool (`serve` with `extraArguments`) and nginx; with `statusListener`, the master's status listener too.
    /// - Parameters:
    ///   - binary: the executable to run (default `TestCluster.binary`).
    ///   - countsFromEnvironment: leave `--workers`/`--threads` out, so the environment (or `FTAPI_CONFIG`) sets them.
    init(
        workers: Int = 2, threads: Int = 4, extraArguments: [String] = [], environment: [String: String] = [:], statusListener: Bool = false,
        binary: String = TestCluster.binary, countsFromEnvironment: Bool = false, keepsConnections: Bool = true
    ) throws {
        var template = Array("/tmp/ftapi-it-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw TestClientError.closed }
        directory = String(cString: made)
        chmod(directory, 0o755)  // nginx's workers (www-data) must reach the socket
        socketPath = directory + "/ftapi.sock"
        databasePath = directory + "/data/ftapi.db"
        poolLogPath = directory + "/pool.log"
        port = try Self.freePort()
        statusPort = statusListener ? try Self.freePort() : nil
        self.workers = workers
        self.threads = threads
        databaseSchema = Self.usesPostgres ? "it_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "") : nil

        let render = Process()
        render.executableURL = Self.repository.appendingPathComponent("deploy/render-nginx.sh")
        render.arguments = [directory + "/nginx", "127.0.0.1:\(port)", socketPath, directory + "/data"]
        render.standardOutput = FileHandle.nullDevice
        try render.run()
        render.waitUntilExit()
        guard render.terminationStatus == 0 else { throw TestClientError.malformed("render-nginx.sh failed") }
        if !keepsConnections {
            // Every request a new connection to the pool: nginx's `fastcgi_keep_conn off` for the API's location.
            let site = directory + "/nginx/ftapi-site.conf"
            let text = try String(contentsOfFile: site, encoding: .utf8)
            try text.replacingOccurrences(of: "fastcgi_keep_conn on;", with: "fastcgi_keep_conn off;").write(
                toFile: site, atomically: true, encoding: .utf8)
        }
        chmod(directory + "/nginx", 0o755)
        // As deploy/lib.sh's share_data_dir: nginx's workers (www-data) pass through the data directory and read stored datasets.
        mkdir(directory + "/data", 0o750)
        if getuid() == 0, let group = getgrnam("www-data") {
            chown(directory + "/data", uid_t.max, group.pointee.gr_gid)
            chmod(directory + "/data", 0o2710)
        }

        guard FileManager.default.createFile(atPath: poolLogPath, contents: nil) else {
            throw TestClientError.malformed("cannot create \(poolLogPath)")
        }
        poolLog = FileHandle(forWritingAtPath: poolLogPath)
        let pool = Process()
        pool.executableURL = URL(fileURLWithPath: binary)
        var arguments = ["serve", "--listen", "unix:\(socketPath)", "--shutdown-timeout", "10"]
        if !countsFromEnvironment { arguments += ["--workers", "\(workers)", "--threads", "\(threads)"] }
        if getuid() == 0 { arguments += ["--socket-owner", ":www-data"] }
        if let statusPort { arguments += ["--status-listen", "127.0.0.1:\(statusPort)"] }
        pool.arguments = arguments + extraArguments
        var env = Self.environment(directory: directory, databaseSchema: databaseSchema)
        env["FTAPI_USAGE_FLUSH_SECONDS"] = "0.2"
        for (name, value) in environment { env[name] = value }
        pool.environment = env
        pool.standardError = poolLog
        pool.standardOutput = poolLog
        try pool.run()
        self.pool = pool
        try waitFor("the pool's socket") { FileManager.default.fileExists(atPath: self.socketPath) && self.workerPIDs().count == workers }
        // nginx keeps the connections it opens first: a worker that starts serving after them would get none.
        try waitFor("every worker serving") {
            let log = (try? String(contentsOfFile: self.poolLogPath, encoding: .utf8)) ?? ""
            return log.components(separatedBy: #""msg":"worker serving""#).count - 1 >= workers
        }

        let nginx = Process()
        nginx.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        nginx.arguments = ["-p", directory + "/nginx", "-c", directory + "/nginx/nginx.conf", "-g", "daemon off;"]
        nginx.standardError = poolLog
        try nginx.run()
        self.nginx = nginx
        try waitFor("nginx and the workers") { (try? HTTPTestClient(port: self.port).get("/api/health").status) == 200 }
    }

    deinit { stop() }

    /// Stops nginx and the pool (SIGTERM), waits for both, removes the directory.
    func stop() {
        if let nginx, nginx.isRunning {
            kill(nginx.processIdentifier, SIGQUIT)
            nginx.waitUntilExit()
        }
        nginx = nil
        if let pool, pool.isRunning {
            kill(pool.processIdentifier, SIGTERM)
            pool.waitUntilExit()
        }
        pool = nil
        try? poolLog?.close()
        poolLog = nil
        if let configuration = postgresConfiguration(poolSize: 1) { try? PostgreSQLStore(configuration: configuration).dropSchema() }
        if ProcessInfo.processInfo.environment["KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    func client() -> HTTPTestClient { HTTPTestClient(port: port) }

    /// `GET /status` from the master's status listener.
    func status() throws -> [String: Any] {
        guard let statusPort else { throw TestClientError.malformed("no status listener") }
        let response = try HTTPTestClient(port: statusPort).get("/status")
        return try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
    }

    /// `GET /metrics` from the master's status listener.
    func metrics() throws -> String {
        guard let statusPort else { throw TestClientError.malformed("no status listener") }
        return String(decoding: try HTTPTestClient(port: statusPort).get("/metrics").body, as: UTF8.self)
    }

    /// The master's pid.
    var masterPID: pid_t { pool?.processIdentifier ?? 0 }

    /// A store on the pool's database (SQLite file or PostgreSQL schema), for setting up and checking rows.
    func store() throws -> any Store {
        if let configuration = postgresConfiguration(poolSize: 2) { return try PostgreSQLStore(configuration: configuration) }
        return SQLiteStore(configuration: SQLiteConfiguration(path: databasePath))
    }

    /// A dataset validation through nginx that sends its head and one byte of its 100,000-byte body, then
    /// goes quiet: its thread waits for the rest.
    func stalledUpload(token: String) throws -> HTTPTestClient {
        let upload = client()
        let head =
            "POST /api/datasets/validate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n"
            + "Content-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\nx"
        try upload.write(Array(head.utf8))
        return upload
    }

    /// The slowest of `count` health checks sent one after the other, in seconds; each must answer 200.
    func slowestHealthCheck(of count: Int = 20) throws -> Double {
        var slowest = 0.0
        for _ in 0..<count {
            let started = Date()
            #expect(try client().get("/api/health").status == 200)
            slowest = max(slowest, Date().timeIntervalSince(started))
        }
        return slowest
    }

    /// The pids of the master's worker processes.
    func workerPIDs() -> [pid_t] {
        guard let master = pool?.processIdentifier else { return [] }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            guard fields.count > 1, fields[0] != "Z", pid_t(fields[1]) == master else { return nil }
            return pid
        }.sorted()
    }

    /// The pool's log lines parsed as JSON objects, once the file has stopped growing for 0.1 s (at most 2 s):
    /// workers' lines reach it through the master's relay, a moment after the answers they describe.
    func logLines() -> [[String: Any]] {
        var size = -1
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            let now = ((try? FileManager.default.attributesOfItem(atPath: poolLogPath)[.size]) as? Int) ?? 0
            if now == size { break }
            size = now
            usleep(100_000)
        }
        let text = (try? String(contentsOfFile: poolLogPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    /// The PostgreSQL schema of this cluster as a store configuration, or nil on SQLite.
    private func postgresConfiguration(poolSize: Int) -> PostgreSQLConfiguration? {
        guard let databaseSchema, let url = Self.postgresURL else { return nil }
        var configuration = PostgreSQLConfiguration(url: url, schema: databaseSchema, poolSize: poolSize)
        configuration.poolMode = Self.postgresPoolMode.flatMap(PostgreSQLPoolMode.init(rawValue:)) ?? .session
        return configuration
    }

    /// What the pool and the CLI run with: this cluster's data directory, JWT secret and database.
    private static func environment(directory: String, databaseSchema: String?) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["DATA_DIR"] = directory + "/data"
        env["JWT_SECRET"] = jwtSecret
        if let databaseSchema, let url = postgresURL {
            env["DATABASE_URL"] = url
            env["DATABASE_SCHEMA"] = databaseSchema
            env["DATABASE_POOL_MODE"] = postgresPoolMode
        }
        return env
    }

    /// Runs the CLI against this cluster's data directory and returns its standard output.
    func cli(_ arguments: [String]) throws -> String {
        try Self.run(arguments, environment: Self.environment(directory: directory, databaseSchema: databaseSchema))
    }

    /// Runs the ftapi binary with `arguments` (and `environment`, else this process's) and returns its standard
    /// output, trimmed; a non-zero exit throws.
    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestClientError.malformed("ftapi \(arguments) exited \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A new API key for `user` created with the CLI.
    func createKey(user: String, name: String = "key-\(UUID().uuidString.prefix(8))", scopes: String = "all") throws -> String {
        try cli(["keys", "create", "--user", user, "--name", name, "--scopes", scopes])
    }

    /// A session token for `user` minted with the CLI.
    func sessionToken(user: String) throws -> String {
        try cli(["token", "--user", user])
    }

    func waitFor(_ what: String, timeout: Double = 30, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return }
            usleep(50_000)
        }
        throw TestClientError.malformed("timed out waiting for \(what); pool log: \(poolLogPath)")
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now.
    static func freePort() throws -> UInt16 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                Glibc.bind(socket, pointer, length)
                return getsockname(socket, pointer, &length)
            }
        }
        return UInt16(bigEndian: address.sin_port)
    }
}

/// Counts outcomes from several threads.
final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]

    func add(_ key: String) {
        lock.lock()
        counts[key, default: 0] += 1
        lock.unlock()
    }

    subscript(key: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return counts[key] ?? 0
    }

    var all: [String: Int] {
        lock.lock()
        defer { lock.unlock() }
        return counts
    }
}

/// `GET /api/training/stats` (or job creates) with one key from several client threads through nginx, until
/// `stop()`: the load that tests changing the pool (a kill, a reload, recycling) run under. What the requests got is
/// in `tally`, by status ("error" for a broken connection), with one "done" for each thread that has ended.
final class SteadyLoad: Sendable {
    let tally = Tally()
    let clients: Int
    private let stopping = Tally()
    private let cluster: TestCluster

    /// `clients` threads, each with its own kept connection to nginx, sending `GET /api/training/stats` with `key`
    /// (or, with `creatingJobs`, `POST /api/training/jobs`: a write nginx never retries on another connection).
    init(on cluster: TestCluster, key: String, clients: Int = 6, creatingJobs: Bool = false) {
        self.cluster = cluster
        self.clients = clients
        for _ in 0..<clients {
            Thread { [tally, stopping] in
                let client = cluster.client()
                while stopping["stop"] == 0 {
                    do {
                        let response =
                            creatingJobs
                            ? try client.postJSON("/api/training/jobs", #"{"model_name":"load"}"#, headers: ["X-API-Key": key])
                            : try client.get("/api/training/stats", headers: ["X-API-Key": key])
                        tally.add(response.status == 201 ? "200" : "\(response.status)")
                    } catch {
                        tally.add("error")
                        client.close()
                    }
                }
                tally.add("done")
            }.start()
        }
    }

    /// Stops the threads and waits until they have all ended.
    func stop() throws {
        stopping.add("stop")
        try cluster.waitFor("load threads") { tally["done"] == clients }
    }

    /// What was neither a success (200, or 201 for a job created) nor a thread's end, by status.
    var failures: [String: Int] { tally.all.filter { $0.key != "200" && $0.key != "done" } }
}
