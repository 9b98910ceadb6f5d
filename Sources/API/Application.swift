public import Domain
import Essentials
public import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Settings of the application layer (the transport and the pool have their own).
public struct APISettings: Sendable {
    /// Reported by `/api/health`.
    public var version: String
    /// Write one access-log line per request.
    public var accessLog: Bool
    /// Longest time an access-log line waits in its thread's batch; 0 writes each line at once.
    public var accessLogFlushInterval: Double
    /// Where access-log batches are written: stderr, or in a pool's worker the master's own log destination,
    /// so that they skip the master's relay.
    public var accessLogFD: Int32
    /// Seconds between writes of coalesced API-key usage.
    public var usageFlushInterval: Double
    /// Largest dataset body, for validation and upload (a 413 past it).
    public var datasetMaxBytes: Int
    /// The Hugging Face Hub behind `/api/models/search`.
    public var modelSearch: ModelSearchSettings
    /// Training agents: leases, poll interval, dataset URLs.
    public var agents: AgentSettings

    public init(
        version: String, accessLog: Bool = true, accessLogFlushInterval: Double = 1, usageFlushInterval: Double = 5, datasetMaxBytes: Int = 100 << 20,
        modelSearch: ModelSearchSettings = ModelSearchSettings(), accessLogFD: Int32 = 2, agents: AgentSettings = AgentSettings()
    ) {
        self.agents = agents
        self.accessLogFD = accessLogFD
        self.version = version
        self.accessLog = accessLog
        self.accessLogFlushInterval = accessLogFlushInterval
        self.usageFlushInterval = usageFlushInterval
        self.datasetMaxBytes = datasetMaxBytes
        self.modelSearch = modelSearch
    }
}

/// The composition root of the application layer: builds the domain
/// controllers on the store, registers their routes, and puts the auth gate
/// in front of them. What serves requests is `responder`.
public final class Application: Sendable {
    /// What the transport calls for every request.
    public let responder: APIResponder
    private let usage: UsageRecorder
    private let datasetFiles: DatasetFiles
    private let settings: APISettings
    private let logger: Logger
    private let leaseSweeper: LeaseSweeper

    /// - Parameters:
    ///   - rateLimiter: the API-key budget; nil (or a limit of 0) turns limiting off.
    ///   - datasetFiles: where stored datasets' files live (the one object for the data directory).
    ///   - modelHub: makes the Hub requests of model search; without one every search is a 502.
    public init(
        store: any Store, sessionTokens: SessionTokenVerifier, rateLimiter: RateLimiter?, datasetFiles: DatasetFiles,
        settings: APISettings, logger: Logger, modelHub: (any ModelHubTransport)? = nil
    ) {
        self.usage = UsageRecorder(store: store.apiKeys, logger: logger)
        self.datasetFiles = datasetFiles
        self.settings = settings
        self.logger = logger
        self.leaseSweeper = LeaseSweeper(agents: store.trainingAgents, terms: settings.agents.lease, logger: logger)
        var router = Router()
        let openAPI = OpenAPIBox()
        let training = TrainingService(jobs: store.trainingJobs)
        let namedJobs = NamedJob(jobs: store.trainingJobs)
        let datasetURLs = DatasetURLSigner(secrets: store.serverSecrets)
        // In the order the OpenAPI document lists the routes.
        HealthController(store: store, version: settings.version, openAPI: openAPI).register(on: &router)
        TrainingController(jobs: store.trainingJobs).register(on: &router)
        TrainingJobController(training: training, datasets: store.datasets, files: datasetFiles).register(on: &router)
        TrainingMetricsController(training: training).register(on: &router)
        AnalyticsController(analytics: store.analytics).register(on: &router)
        ModelSearchController(settings: settings.modelSearch, transport: modelHub ?? UnavailableModelHub()).register(on: &router)
        NotificationPreferencesController(preferences: store.notificationPreferences).register(on: &router)
        APIKeyController(keys: store.apiKeys).register(on: &router)
        DatasetController(datasets: store.datasets, files: datasetFiles, maxBytes: settings.datasetMaxBytes, urls: datasetURLs)
            .register(on: &router)
        // FineTune Lab's routes: an adapter over the same jobs and training services.
        LocalJobController(training: training).register(on: &router)
        LocalMetricsController(training: training, jobs: namedJobs).register(on: &router)
        LocalJobStatusController(training: training, jobs: namedJobs).register(on: &router)
        TrainingLogController(jobs: namedJobs, logs: store.trainingLogs).register(on: &router)
        TrainingPredictionController(jobs: namedJobs, predictions: store.trainingPredictions).register(on: &router)
        TrainingAgentController(agents: store.trainingAgents, datasetURLs: datasetURLs, settings: settings.agents).register(on: &router)
        openAPI.body = OpenAPIDocument.build(router: router, version: settings.version).serialized()
        let gate = AuthGate(
            authenticator: Authenticator(
                keys: store.apiKeys, jobs: store.trainingJobs, sessionTokens: sessionTokens, agents: store.trainingAgents,
                lease: settings.agents.lease),
            rateLimiter: rateLimiter, usage: usage
        )
        responder = APIResponder(
            router: router, gate: gate, logger: logger,
            accessLog: settings.accessLog ? AccessLog(pid: getpid(), flushInterval: settings.accessLogFlushInterval, fd: settings.accessLogFD) : nil,
            usage: usage,
            store: store
        )
    }

    /// Every registered route.
    public var router: Router { responder.router }

    /// A worker's background work: removes uploads abandoned by dead workers, then
    /// starts the threads that flush API-key usage every `usageFlushInterval` and
    /// the access-log lines of quiet threads every `accessLogFlushInterval`, and with `sweepsLeases` (one worker per
    /// pool) the one that puts the jobs of lost training agents back in the queue.
    public func startBackgroundWork(sweepsLeases: Bool = true) throws {
        sweepAbandonedUploads()
        if sweepsLeases {
            let sweeper = leaseSweeper
            try Threads.repeating(every: settings.agents.lease.sweepInterval) { sweeper.sweep() }
        }
        let usage = self.usage
        try Threads.repeating(every: settings.usageFlushInterval) { usage.flush() }
        if let accessLog = responder.accessLog, settings.accessLogFlushInterval > 0 {
            try Threads.repeating(every: settings.accessLogFlushInterval) { accessLog.flushIdle() }
        }
    }

    /// Removes partial dataset files left by this host's worker processes that are gone
    /// (a worker killed during an upload), and other hosts' long abandoned ones. Safe while
    /// other workers, here or on other hosts sharing DATA_DIR, upload.
    public func sweepAbandonedUploads() {
        let removed = datasetFiles.sweep(everyPartial: false, recorded: nil)
        if removed > 0 { logger.info("removed abandoned dataset uploads", metadata: ["files.removed": "\(removed)"]) }
    }

    /// Sweeps lapsed agent leases now (tests).
    public func sweepLeases() {
        leaseSweeper.sweep()
    }

    /// Writes pending API-key usage now (tests and shutdown).
    public func flushUsage() {
        usage.flush()
    }
}
