import API
import ArgumentParser
import Domain
import Essentials
import FastCGITransport
import Logging
import Pool
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// `ftapi serve`: the master process and, re-executed with `--worker`, each worker.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the FastCGI worker pool (a master process and W workers with T accept threads each)."
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var tokens: TokenOptions
    @OptionGroup var logging: LogOptions

    @Option(
        name: .customLong("listen"),
        help: ArgumentHelp(
            "unix:/path.sock, /path.sock, host:port, [v6]:port or fd:N (env FTAPI_LISTEN; default unix:DATA_DIR/ftapi.sock). systemd socket "
                + "activation wins when LISTEN_FDS is set.")
    )
    var listenFlag: String?

    @Option(name: .customLong("socket-mode"), help: "Mode of the unix socket, octal (env FTAPI_SOCKET_MODE).")
    var socketMode: String = Environment.string("FTAPI_SOCKET_MODE") ?? "0660"

    @Option(name: .customLong("socket-owner"), help: "user, user:group or :group for the unix socket (env FTAPI_SOCKET_OWNER).")
    var socketOwnerFlag: String?

    @Option(help: "Worker processes (env FTAPI_WORKERS; default: the number of cores).")
    var workers: Int = Environment.int("FTAPI_WORKERS") ?? Environment.processorCount

    @Option(
        help: "Threads per worker: requests one worker serves at once, those waiting on the network included (env FTAPI_THREADS).")
    var threads: Int = Environment.int("FTAPI_THREADS") ?? 16

    @Option(
        help: ArgumentHelp(
            "How threads find requests (env FTAPI_DISPATCH): events (the active threads wait on every connection) or threads "
                + "(a thread per kept nginx connection, libfcgi's model: workers × threads must cover nginx's upstream connections)."))
    var dispatch: String = Environment.string("FTAPI_DISPATCH") ?? "events"

    @Option(
        name: .customLong("active-threads"),
        help:
            "With events: threads per worker that run at once, besides those waiting on the network (env FTAPI_ACTIVE_THREADS; default 2, at most the threads)."
    )
    var activeThreadsFlag: Int?

    @Option(help: "Listen backlog (env FTAPI_BACKLOG).")
    var backlog: Int32 = Int32(Environment.int("FTAPI_BACKLOG") ?? 1024)

    @Option(name: .customLong("max-body-bytes"), help: "Largest request body (env FTAPI_MAX_BODY_BYTES); larger is a 413.")
    var maxBodyBytes: Int = Environment.int("FTAPI_MAX_BODY_BYTES") ?? 1 << 20

    @Option(
        name: .customLong("dataset-max-bytes"),
        help: ArgumentHelp(
            "Largest dataset body for validation and upload (env FTAPI_DATASET_MAX_BYTES); larger is a 413. Keep nginx's client_max_body_size "
                + "for /api/datasets equal.")
    )
    var datasetMaxBytes: Int = Environment.int("FTAPI_DATASET_MAX_BYTES") ?? 100 << 20

    @Option(name: .customLong("max-params-bytes"), help: "Largest total of FastCGI params/headers (env FTAPI_MAX_PARAMS_BYTES); larger is a 431.")
    var maxParamsBytes: Int = Environment.int("FTAPI_MAX_PARAMS_BYTES") ?? 64 << 10

    @Option(name: .customLong("shutdown-timeout"), help: "Seconds in-flight requests get after SIGTERM (env FTAPI_SHUTDOWN_TIMEOUT).")
    var shutdownTimeout: Double = Environment.double("FTAPI_SHUTDOWN_TIMEOUT") ?? 30

    @Option(name: .customLong("rate-limit"), help: "Requests per API key per window, across all workers; 0 disables (env RATE_LIMIT_REQUESTS).")
    var rateLimit: Int = Environment.int("RATE_LIMIT_REQUESTS") ?? 100

    @Option(name: .customLong("rate-limit-window"), help: "Rate-limit window in seconds (env RATE_LIMIT_WINDOW_SECONDS).")
    var rateLimitWindow: Int = Environment.int("RATE_LIMIT_WINDOW_SECONDS") ?? 60

    @Option(name: .customLong("usage-flush-interval"), help: "Seconds between writes of API-key usage counters (env FTAPI_USAGE_FLUSH_SECONDS).")
    var usageFlushInterval: Double = Environment.double("FTAPI_USAGE_FLUSH_SECONDS") ?? 5

    @Option(name: .customLong("hf-endpoint"), help: "Hugging Face Hub base URL for model search (env HF_ENDPOINT).")
    var hfEndpoint: String = Environment.string("HF_ENDPOINT") ?? "https://huggingface.co"

    @Option(name: .customLong("hf-timeout"), help: "Seconds the Hub gets to answer a model search; past it a 504 (env FTAPI_HF_TIMEOUT_SECONDS).")
    var hfTimeout: Double = Environment.double("FTAPI_HF_TIMEOUT_SECONDS") ?? 5

    @Option(
        name: .customLong("models-cache-seconds"),
        help: "How long a model search answer is reused; 0 disables the cache (env FTAPI_MODELS_CACHE_SECONDS).")
    var modelsCacheSeconds: Double = Environment.double("FTAPI_MODELS_CACHE_SECONDS") ?? 300

    @Option(name: .customLong("models-cache-entries"), help: "Most model search answers kept per worker (env FTAPI_MODELS_CACHE_ENTRIES).")
    var modelsCacheEntries: Int = Environment.int("FTAPI_MODELS_CACHE_ENTRIES") ?? 256

    @Flag(name: .customLong("no-access-log"), help: "Do not log one line per request (env FTAPI_ACCESS_LOG=off).")
    var noAccessLog = false

    /// The flag, or `FTAPI_ACCESS_LOG=off`: a flag's default must be false (the argument parser refuses a true one).
    private var accessLogOn: Bool { !noAccessLog && Environment.bool("FTAPI_ACCESS_LOG") != false }

    @Option(
        name: .customLong("access-log-flush"),
        help: """
            Longest time in seconds an access-log line waits to be written with others (at most PIPE_BUF bytes a write); \
            0 writes each line at once (env FTAPI_ACCESS_LOG_FLUSH_SECONDS).
            """)
    var accessLogFlush: Double = Environment.double("FTAPI_ACCESS_LOG_FLUSH_SECONDS") ?? 1

    @Option(
        name: .customLong("status-listen"),
        help: "HOST:PORT or unix:PATH of the master's status listener (/status, /metrics); off when unset (env FTAPI_STATUS_LISTEN).")
    var statusListenFlag: String?

    @Option(
        name: .customLong("request-timeout"),
        help: "Seconds a request may run before it is answered 504; 0 disables (env FTAPI_REQUEST_TIMEOUT_SECONDS).")
    var requestTimeout: Double = Environment.double("FTAPI_REQUEST_TIMEOUT_SECONDS") ?? 30

    @Option(
        name: .customLong("slowlog"),
        help: "Log a request still running after this many seconds, with its stack; 0 disables (env FTAPI_SLOWLOG_SECONDS).")
    var slowLogSeconds: Double = Environment.double("FTAPI_SLOWLOG_SECONDS") ?? 0

    @Option(name: .customLong("max-requests"), help: "Recycle a worker after this many requests; 0 never (env FTAPI_MAX_REQUESTS).")
    var maxRequests: Int = Environment.int("FTAPI_MAX_REQUESTS") ?? 0

    @Option(name: .customLong("max-requests-jitter"), help: "A random 0…J added to --max-requests per worker (env FTAPI_MAX_REQUESTS_JITTER).")
    var maxRequestsJitter: Int = Environment.int("FTAPI_MAX_REQUESTS_JITTER") ?? 0

    @Option(name: .customLong("max-rss-mb"), help: "Recycle a worker whose anonymous memory passes this many MiB; 0 never (env FTAPI_MAX_RSS_MB).")
    var maxRSSMiB: Int = Environment.int("FTAPI_MAX_RSS_MB") ?? 0

    @Option(
        name: .customLong("emergency-restart-threshold"),
        help: "More abnormal worker deaths than this within the interval is a crash storm (env FTAPI_EMERGENCY_RESTART_THRESHOLD).")
    var emergencyRestartThreshold: Int = Environment.int("FTAPI_EMERGENCY_RESTART_THRESHOLD") ?? 10

    @Option(
        name: .customLong("emergency-restart-interval"),
        help: "Seconds over which abnormal worker deaths are counted (env FTAPI_EMERGENCY_RESTART_INTERVAL).")
    var emergencyRestartInterval: Double = Environment.double("FTAPI_EMERGENCY_RESTART_INTERVAL") ?? 60

    @Option(
        name: .customLong("kept-connection-grace"),
        help: ArgumentHelp(
            "Seconds a draining worker leaves idle kept connections to nginx; keep it above nginx's upstream keepalive_timeout "
                + "(env FTAPI_KEPT_CONNECTION_GRACE)."))
    var keptConnectionGrace: Double = Environment.double("FTAPI_KEPT_CONNECTION_GRACE") ?? 5

    @Option(
        name: .customLong("streamed-body-threads"),
        help: ArgumentHelp(
            "Accept threads per worker that may hold a streamed (dataset) body at once; past it a 503 (env FTAPI_STREAMED_BODY_THREADS; "
                + "default half the threads)."))
    var streamedBodyThreadsFlag: Int?

    @Option(
        name: .customLong("body-min-rate"),
        help: "A streamed body slower than this many bytes/s over the window is cut with 408; 0 never (env FTAPI_BODY_MIN_RATE).")
    var bodyMinRate: Int = Environment.int("FTAPI_BODY_MIN_RATE") ?? 500

    @Option(name: .customLong("body-min-rate-window"), help: "Seconds over which the body rate is measured (env FTAPI_BODY_MIN_RATE_WINDOW).")
    var bodyMinRateWindow: Double = Environment.double("FTAPI_BODY_MIN_RATE_WINDOW") ?? 10

    var activeThreads: Int { activeThreadsFlag ?? Environment.int("FTAPI_ACTIVE_THREADS") ?? min(2, threads) }
    var streamedBodyThreads: Int { streamedBodyThreadsFlag ?? Environment.int("FTAPI_STREAMED_BODY_THREADS") ?? max(1, threads / 2) }

    @Option(
        name: .customLong("agent-lease"),
        help: "Seconds a training agent holds a claimed job without a poll or a write; then the job is requeued (env FTAPI_AGENT_LEASE_SECONDS).")
    var agentLease: Double = Environment.double("FTAPI_AGENT_LEASE_SECONDS") ?? 300

    @Option(
        name: .customLong("agent-max-attempts"),
        help: "Lost agents a job survives; at this many it fails with `agent lost` (env FTAPI_AGENT_MAX_ATTEMPTS).")
    var agentMaxAttempts: Int = Environment.int("FTAPI_AGENT_MAX_ATTEMPTS") ?? 3

    @Option(
        name: .customLong("agent-poll-interval"), help: "Seconds polls tell agents to wait between polls (env FTAPI_AGENT_POLL_INTERVAL_SECONDS).")
    var agentPollInterval: Int = Environment.int("FTAPI_AGENT_POLL_INTERVAL_SECONDS") ?? 10

    @Option(
        name: .customLong("agent-online-threshold"),
        help: "An agent that polled within this many seconds is listed online (env FTAPI_AGENT_ONLINE_SECONDS).")
    var agentOnlineThreshold: Int = Environment.int("FTAPI_AGENT_ONLINE_SECONDS") ?? 60

    @Option(name: .customLong("dataset-url-ttl"), help: "Seconds a job's dataset_url works (env FTAPI_DATASET_URL_TTL_SECONDS).")
    var datasetURLTTL: Double = Environment.double("FTAPI_DATASET_URL_TTL_SECONDS") ?? 7200

    @Option(
        name: .customLong("public-url"),
        help: "Origin of the dataset URLs given to agents, e.g. https://api.example.com; unset: each request's own (env FTAPI_PUBLIC_URL).")
    var publicURLFlag: String?

    @Flag(help: .hidden)
    var worker = false

    @Option(name: .customLong("worker-slot"), help: .hidden)
    var workerSlot: Int?

    /// Validate the settings and exit: the master runs the new binary so before a reload.
    @Flag(name: .customLong("check-settings"), help: "Check the settings (flags, environment, FTAPI_CONFIG) and exit.")
    var checkSettings = false

    /// Counting requests on the scoreboard can be turned off only to measure what it costs (FTAPI_POOL_COUNTERS=off).
    private var countsRequests: Bool { Environment.bool("FTAPI_POOL_COUNTERS") != false }

    // Optional settings: the flag, else the environment variable.
    var listen: String? { listenFlag ?? Environment.string("FTAPI_LISTEN") }
    var socketOwner: String? { socketOwnerFlag ?? Environment.string("FTAPI_SOCKET_OWNER") }
    var statusListen: String? { statusListenFlag ?? Environment.string("FTAPI_STATUS_LISTEN") }
    var publicURL: String? { publicURLFlag ?? Environment.string("FTAPI_PUBLIC_URL") }

    func validate() throws {
        guard workers >= 1, workers <= 256 else { throw ValidationError("--workers must be 1–256") }
        guard threads >= 1, threads <= 1024 else { throw ValidationError("--threads must be 1–1024") }
        guard dispatch == "events" || dispatch == "threads" else { throw ValidationError("--dispatch must be events or threads") }
        guard dispatch == "threads" || (activeThreads >= 1 && activeThreads <= threads) else {
            throw ValidationError("--active-threads must be 1–threads")
        }
        guard maxBodyBytes >= 0, maxParamsBytes >= 1024 else {
            throw ValidationError("--max-body-bytes must be ≥ 0 and --max-params-bytes ≥ 1024")
        }
        // The validator keeps line offsets in 32 bits.
        guard datasetMaxBytes >= 1, datasetMaxBytes <= Int(Int32.max) else { throw ValidationError("--dataset-max-bytes must be 1–2147483647") }
        guard rateLimit >= 0, rateLimitWindow >= 1 else { throw ValidationError("--rate-limit must be ≥ 0 and --rate-limit-window ≥ 1") }
        guard usageFlushInterval >= 0.1 else { throw ValidationError("--usage-flush-interval must be at least 0.1 s") }
        guard accessLogFlush == 0 || (accessLogFlush >= 0.05 && accessLogFlush <= 60) else {
            throw ValidationError("--access-log-flush must be 0 or 0.05–60 s")
        }
        guard shutdownTimeout >= 0 else { throw ValidationError("--shutdown-timeout must be ≥ 0") }
        guard UInt32(socketMode, radix: 8) != nil else { throw ValidationError("--socket-mode must be octal, e.g. 0660") }
        guard agentLease >= 1, agentLease <= 86_400 else { throw ValidationError("--agent-lease must be 1–86400 seconds") }
        guard agentMaxAttempts >= 1, agentMaxAttempts <= 100 else { throw ValidationError("--agent-max-attempts must be 1–100") }
        guard agentPollInterval >= 1, agentPollInterval <= 3600 else { throw ValidationError("--agent-poll-interval must be 1–3600 seconds") }
        guard agentOnlineThreshold >= 1 else { throw ValidationError("--agent-online-threshold must be at least 1 second") }
        guard datasetURLTTL >= 1, datasetURLTTL <= 7 * 86_400 else { throw ValidationError("--dataset-url-ttl must be 1–604800 seconds") }
        if let publicURL {
            guard publicURL.hasPrefix("http://") || publicURL.hasPrefix("https://"), !publicURL.hasSuffix("/") else {
                throw ValidationError("--public-url must be an http:// or https:// origin without a trailing slash, not \(publicURL)")
            }
        }
        guard hfEndpoint.hasPrefix("http://") || hfEndpoint.hasPrefix("https://") else {
            throw ValidationError("--hf-endpoint must be an http(s) URL")
        }
        guard hfTimeout > 0, modelsCacheSeconds >= 0, modelsCacheEntries >= 0 else {
            throw ValidationError("--hf-timeout must be > 0, --models-cache-seconds and --models-cache-entries ≥ 0")
        }
        guard streamedBodyThreads >= 1, bodyMinRate >= 0, bodyMinRateWindow > 0 else {
            throw ValidationError("--streamed-body-threads must be ≥ 1, --body-min-rate ≥ 0 and --body-min-rate-window > 0")
        }
        guard keptConnectionGrace >= 0 else { throw ValidationError("--kept-connection-grace must be ≥ 0") }
        guard requestTimeout >= 0, slowLogSeconds >= 0 else { throw ValidationError("--request-timeout and --slowlog must be ≥ 0") }
        guard maxRequests >= 0, maxRequestsJitter >= 0, maxRSSMiB >= 0 else {
            throw ValidationError("--max-requests, --max-requests-jitter and --max-rss-mb must be ≥ 0")
        }
        guard emergencyRestartThreshold >= 1, emergencyRestartInterval > 0 else {
            throw ValidationError("--emergency-restart-threshold must be ≥ 1 and --emergency-restart-interval > 0")
        }
        if let statusListen {
            guard let address = ListenAddress(parsing: statusListen), address.isListenable else {
                throw ValidationError("--status-listen must be HOST:PORT or unix:PATH")
            }
        }
    }

    func run() throws {
        // Before any thread exists: stop signals are taken with sigwait by
        // the master's loop or the worker's supervisor only.
        if checkSettings {
            _ = try tokens.configuration()
            return
        }
        if worker { PoolWorker.blockStopSignals() } else { PoolMaster.blockSignals() }
        let logger = logging.bootstrap()
        if worker {
            // _exit: accept threads still inside a request past the drain
            // deadline must not race process teardown (atexit, destructors).
            let status = runWorker(logger: logger)
            _exit(status)
        }
        Glibc.exit(try runMaster(logger: logger))
    }

    private func listenAddress() throws -> ListenAddress {
        if let fd = Listener.systemdActivatedFD() { return .inherited(fd: fd) }
        let text = listen ?? "unix:\(store.dataDirectory)/ftapi.sock"
        guard let address = ListenAddress(parsing: text) else { throw ValidationError("cannot parse --listen \(text)") }
        return address
    }

    private func isInherited(_ address: ListenAddress) -> Bool {
        if case .inherited = address { return true }
        return false
    }

    /// Migrates the store and sweeps dataset files left without a record; returns the schema version.
    /// The master's store (and any connection it opened) is gone when this returns: only workers hold connections.
    private func prepareStore(logger: Logger, sweepingUploads: Bool) throws -> Int {
        let database = try store.openStore(poolSize: 1)
        try database.migrate()
        let datasetFiles = store.datasetFiles()
        try datasetFiles.prepare()
        // On a reload the old workers still serve, with uploads in flight: nothing is swept then.
        guard sweepingUploads else { return try database.schemaVersion() }
        // No worker of this host runs yet: every partial upload of this host is abandoned, and a stored
        // file without a record lost its commit in a crash (once it is older than any other host's upload
        // between its rename and its commit could be: DatasetFiles.abandonedAfterSeconds).
        let swept = datasetFiles.sweep(everyPartial: true, recorded: try database.datasets.allFilePaths())
        if swept > 0 { logger.info("removed dataset files left by an earlier run", metadata: ["files.removed": "\(swept)"]) }
        return try database.schemaVersion()
    }

    private func runMaster(logger: Logger) throws -> Int32 {
        let handover = MasterHandover.take()
        let schemaVersion = try prepareStore(logger: logger, sweepingUploads: handover == nil)
        let verifier = SessionTokenVerifier(configuration: try tokens.configuration(), fetcher: JWKSHTTPFetcher())
        do {
            try verifier.preloadKeys(now: Clocks.wallSeconds())
        } catch  where verifier.jwksIsRemote {
            // A JWKS host that is down must not keep API-key traffic down too.
            logger.warning("cannot load JWT_JWKS yet; ES256/RS256 tokens fail until it loads", metadata: ["error": "\(error)"])
        }
        if tokens.secret == nil && tokens.jwks == nil {
            logger.warning("neither JWT_SECRET nor JWT_JWKS is set: session tokens are refused, and so is API key management")
        }

        let address = try listenAddress()
        let listenFD: Int32
        let ownsListener: Bool
        let shared: SharedMemory
        let scoreboard: SharedMemory
        var statusFD: Int32?
        if let handover {
            // A reload: the same socket, shared memory and status listener, as the previous image left them.
            listenFD = handover.listenFD
            ownsListener = handover.ownsListener
            shared = try SharedMemory.map(fd: handover.rateLimitFD, size: SharedRateLimitTable.regionSize)
            scoreboard = try SharedMemory.map(fd: handover.scoreboardFD, size: Scoreboard.regionSize)
            statusFD = handover.statusFD
        } else {
            let permissions = SocketPermissions(mode: UInt32(socketMode, radix: 8) ?? 0o660, owner: socketOwner)
            listenFD = try Listener.open(address, permissions: permissions, backlog: backlog)
            ownsListener = !isInherited(address)
            shared = try SharedMemory.create(size: SharedRateLimitTable.regionSize)
            SharedRateLimitTable.initialize(shared)
            scoreboard = try SharedMemory.create(size: Scoreboard.regionSize)
            Scoreboard.initialize(scoreboard, masterPID: getpid())
            if let statusListen, let statusAddress = ListenAddress(parsing: statusListen) {
                statusFD = try Listener.open(statusAddress, permissions: SocketPermissions(mode: 0o660), backlog: 64)
            }
        }
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_PID")
        // What the workers need to know about their master.
        setenv("FTAPI_MASTER_PID", String(getpid()), 1)
        // A crashed worker's report: the crashed thread only, symbolicated fast. The runtime's default (every
        // thread, full symbols) keeps a dead worker's threads for seconds before its replacement can start.
        setenv("SWIFT_BACKTRACE", "enable=yes,interactive=no,threads=crashed,registers=none,images=none,symbolicate=fast", 0)
        setenv("FTAPI_LISTENER_CLOSES_ON_STOP", ownsListener ? "1" : "0", 1)
        // glibc keeps 7 freed chunks of a size per thread before it takes the arena's slower path; a request
        // frees ~65 (libfcgi's params alone ~30), so 64 saves 3.6% of a stats request's instructions.
        // An operator's own GLIBC_TUNABLES wins.
        setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=64", 0)

        logger.info(
            "listening",
            metadata: [
                "pool.listen": "\(address)", "pool.workers": "\(workers)", "pool.threads": "\(threads)",
                "pool.status_listen": "\(statusListen ?? "off")",
                "store.schema_version": "\(schemaVersion)", "store.database": "\(store.databaseDescription)",
            ]
        )
        let master = try PoolMaster(
            listenFD: listenFD,
            ownsListener: ownsListener,
            sharedMemory: shared,
            scoreboard: scoreboard,
            statusFD: statusFD,
            masterArguments: CommandLine.arguments,
            settings: masterSettings,
            logger: logger,
            handover: handover
        )
        if let handover {
            // The master keeps its own copies; the handed-over numbers are closed so reloads do not pile up fds
            // (but the status listener's, which this image's status server serves on).
            for fd in [handover.listenFD, handover.rateLimitFD, handover.scoreboardFD] { close(fd) }
            if let statusFD { _ = fcntl(statusFD, F_SETFD, FD_CLOEXEC) }
        }
        if let statusFD {
            let walPath = try? store.sqlitePath()
            try StatusServer(
                listenFD: statusFD, board: Scoreboard(region: scoreboard),
                pool: PoolDescription(version: ftapiVersion, workersConfigured: workers, threadsPerWorker: threads),
                moreMetrics: {
                    guard let walPath else { return "" }
                    return "# HELP ftapi_sqlite_wal_bytes Size of the SQLite database's write-ahead log.\n# TYPE ftapi_sqlite_wal_bytes gauge\n"
                        + "ftapi_sqlite_wal_bytes \(SQLiteStore.walBytes(databasePath: walPath))\n"
                }
            ).start()
        }
        let status = master.run()
        if case .unix(let path) = address { unlink(path) }
        if let statusListen, case .unix(let path) = ListenAddress(parsing: statusListen) { unlink(path) }
        return status
    }

    private var masterSettings: MasterSettings {
        var settings = MasterSettings(workers: workers, shutdownTimeout: shutdownTimeout)
        settings.emergencyRestartThreshold = emergencyRestartThreshold
        settings.emergencyRestartInterval = emergencyRestartInterval
        return settings
    }

    /// The WAL's safety net (`SQLiteStore.checkpointWAL`), every 5 s, in one worker of the pool: logs each checkpoint it
    /// forces, and a WAL it could not truncate (a request's snapshot holds it) at most once a minute.
    private static func watchWAL(of store: SQLiteStore, logger: Logger) throws {
        let lastWarning = Locked(0.0)
        try Threads.repeating(every: 5) {
            do {
                guard let checkpoint = try store.checkpointWAL() else { return }
                let metadata: Logger.Metadata = [
                    "sqlite.wal_bytes_before": "\(checkpoint.bytesBefore)", "sqlite.wal_bytes_after": "\(checkpoint.bytesAfter)",
                ]
                if !checkpoint.blocked {
                    logger.info("SQLite WAL past its limit: checkpointed and truncated", metadata: metadata)
                } else if lastWarning.withLock({ last in
                    let now = Clocks.monotonicSeconds()
                    defer { if now - last >= 60 { last = now } }
                    return now - last >= 60
                }) {
                    logger.warning("SQLite WAL past its limit and a reader or writer kept the checkpoint from its end", metadata: metadata)
                }
            } catch {
                logger.error("SQLite WAL checkpoint failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func runWorker(logger: Logger) -> Int32 {
        let masterPID = Environment.int("FTAPI_MASTER_PID").map { Int32($0) } ?? getppid()
        guard getppid() == masterPID else { return 1 }  // orphaned before it started
        do {
            let database = try store.openStore(poolSize: threads)
            let shared = try SharedMemory.map(fd: WorkerFD.sharedMemory, size: SharedRateLimitTable.regionSize)
            let verifier = SessionTokenVerifier(configuration: try tokens.configuration(), fetcher: JWKSHTTPFetcher())
            try? verifier.preloadKeys(now: Clocks.wallSeconds())
            let application = Application(
                store: database,
                sessionTokens: verifier,
                rateLimiter: RateLimiter(counter: SharedRateLimitTable(region: shared), limit: rateLimit, windowSeconds: rateLimitWindow),
                datasetFiles: store.datasetFiles(),
                settings: APISettings(
                    version: ftapiVersion, accessLog: accessLogOn, accessLogFlushInterval: accessLogFlush, usageFlushInterval: usageFlushInterval,
                    datasetMaxBytes: datasetMaxBytes,
                    modelSearch: ModelSearchSettings(
                        // HF_TOKEN from the environment only, so it never shows in the process list.
                        endpoint: hfEndpoint, token: Environment.string("HF_TOKEN"), timeoutSeconds: hfTimeout,
                        cacheSeconds: modelsCacheSeconds, cacheEntries: modelsCacheEntries
                    ),
                    accessLogFD: WorkerFD.isOpen(WorkerFD.log) ? WorkerFD.log : 2,
                    agents: AgentSettings(
                        lease: AgentLeaseTerms(leaseSeconds: agentLease, maxAttempts: agentMaxAttempts), pollIntervalSeconds: agentPollInterval,
                        onlineThresholdSeconds: agentOnlineThreshold, datasetURLSeconds: datasetURLTTL, publicURL: publicURL)
                ),
                logger: logger,
                modelHub: ModelHubHTTPTransport()
            )
            // Slot 0 is one worker at a time (a recycled worker's successor takes its slot), so the pool sweeps once.
            let firstWorker = workerSlot.map { $0 == 0 } ?? true
            try application.startBackgroundWork(sweepsLeases: firstWorker)
            if firstWorker, let sqlite = database as? SQLiteStore { try Self.watchWAL(of: sqlite, logger: logger) }
            var limits = TransportLimits(maxBodyBytes: maxBodyBytes, maxParamsBytes: maxParamsBytes)
            limits.maxStreamedBodies = streamedBodyThreads
            limits.minimumBodyBytesPerSecond = bodyMinRate
            limits.bodyRateWindowSeconds = bodyMinRateWindow
            var settings = WorkerSettings(
                threads: threads,
                limits: limits,
                drainTimeout: shutdownTimeout,
                listenerClosesOnStop: Environment.string("FTAPI_LISTENER_CLOSES_ON_STOP") == "1",
                masterPID: masterPID
            )
            settings.requestTimeout = requestTimeout
            settings.slowLogSeconds = slowLogSeconds
            settings.maximumRequests = maxRequests > 0 ? maxRequests + Int.random(in: 0...maxRequestsJitter) : 0
            settings.maximumAnonymousBytes = maxRSSMiB << 20
            settings.countsRequests = countsRequests
            settings.keptConnectionGrace = keptConnectionGrace
            settings.dispatch = dispatch == "threads" ? .threadPerConnection : .events(seats: activeThreads)
            let seat = try workerSlot.map { slot in
                ScoreboardSeat(board: Scoreboard(region: try SharedMemory.map(fd: WorkerFD.scoreboard, size: Scoreboard.regionSize)), slot: slot)
            }
            let responder = application.responder
            let served = WorkerApplication(
                responder: responder, routeLabels: responder.routeLabels, routeLabel: responder.routeLabelIndex(of:),
                didStop: responder.workerDidStop)
            return PoolWorker.run(listenFD: WorkerFD.listener, settings: settings, application: served, seat: seat, logger: logger)
        } catch {
            logger.critical("worker cannot start", metadata: ["error": "\(error)"])
            return 1
        }
    }
}
