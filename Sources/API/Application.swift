public import FastCGI
public import Logging
public import Storage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Settings of the API layer (the transport has its own).
public struct APISettings: Sendable {
    /// Reported by `/api/health`.
    public var version: String
    /// Write one access-log line per request.
    public var accessLog: Bool
    /// Seconds between writes of coalesced API-key usage.
    public var usageFlushInterval: Double
    /// Where stored datasets' files go (`<dataDirectory>/datasets/`).
    public var dataDirectory: String
    /// Largest dataset body, for validation and upload (a 413 past it).
    public var datasetMaxBytes: Int
    /// The Hugging Face Hub behind `/api/models/search`.
    public var modelSearch: ModelSearchSettings

    public init(
        version: String, accessLog: Bool = true, usageFlushInterval: Double = 5, dataDirectory: String = "./data",
        datasetMaxBytes: Int = 100 << 20, modelSearch: ModelSearchSettings = ModelSearchSettings()
    ) {
        self.version = version
        self.accessLog = accessLog
        self.usageFlushInterval = usageFlushInterval
        self.dataDirectory = dataDirectory
        self.datasetMaxBytes = datasetMaxBytes
        self.modelSearch = modelSearch
    }
}

/// The product: routes every request through auth, rate limit and scope
/// checks to its domain handler, and turns every outcome into a JSON response
/// with an `X-Request-Id` and one access-log line.
public final class Application: Responder {
    public let router: Router
    private let store: any Store
    private let authenticator: Authenticator
    private let rateLimiter: RateLimiter?
    private let usage: UsageRecorder
    private let settings: APISettings
    private let logger: Logger
    private let accessLog = AccessLog(pid: getpid())
    private let datasetFiles: DatasetFiles

    /// `modelHub` makes the Hub requests of model search; without one every search is a 502.
    public init(
        store: any Store, sessionTokens: SessionTokenVerifier, rateLimiter: RateLimiter?, settings: APISettings, logger: Logger,
        modelHub: (any ModelHubTransport)? = nil
    ) {
        self.store = store
        self.authenticator = Authenticator(keys: store.apiKeys, jobs: store.trainingJobs, sessionTokens: sessionTokens)
        self.rateLimiter = rateLimiter?.isEnabled == true ? rateLimiter : nil
        self.usage = UsageRecorder(store: store.apiKeys, logger: logger)
        self.settings = settings
        self.datasetFiles = DatasetFiles(dataDirectory: settings.dataDirectory)
        self.logger = logger
        var router = Router()
        let openAPI = OpenAPIBox()
        HealthController(store: store, version: settings.version, openAPI: openAPI).register(on: &router)
        TrainingController(jobs: store.trainingJobs).register(on: &router)
        TrainingJobController(jobs: store.trainingJobs).register(on: &router)
        TrainingMetricsController(jobs: store.trainingJobs).register(on: &router)
        AnalyticsController(analytics: store.analytics).register(on: &router)
        ModelSearchController(settings: settings.modelSearch, transport: modelHub ?? UnavailableModelHub()).register(on: &router)
        NotificationPreferencesController(preferences: store.notificationPreferences).register(on: &router)
        APIKeyController(keys: store.apiKeys).register(on: &router)
        DatasetController(datasets: store.datasets, files: datasetFiles, maxBytes: settings.datasetMaxBytes).register(on: &router)
        self.router = router
        openAPI.body = OpenAPIDocument.build(router: router, version: settings.version).serialized()
    }

    /// Method and pattern of every documented operation.
    public static var documentedOperations: [(method: String, pattern: String)] {
        OpenAPIDocument.operations.map { ($0.method, $0.pattern) }
    }

    /// Starts the thread that flushes API-key usage every `usageFlushInterval`.
    public func startBackgroundWork() throws {
        let usage = self.usage
        let interval = settings.usageFlushInterval
        try BackgroundThread.start(name: "usage-flush") {
            while true {
                sleep(seconds: interval)
                usage.flush()
            }
        }
    }

    /// Dataset uploads stream their bodies (up to `datasetMaxBytes`); every other body is read whole first.
    public func bodyHandling(method: String, path: String) -> BodyHandling {
        guard method == "POST", path.hasPrefix("/api/datasets") else { return .buffered }
        // The router takes one trailing slash; so does this.
        let route = path.hasSuffix("/") ? String(path.dropLast()) : path
        return DatasetController.streamedPaths.contains(route) ? .streamed(maxBytes: settings.datasetMaxBytes) : .buffered
    }

    /// Removes partial dataset files left by worker processes that are gone
    /// (a worker killed during an upload). Safe while other workers upload.
    public func sweepAbandonedUploads() {
        let removed = datasetFiles.sweep(everyPartial: false, recorded: nil)
        if removed > 0 { logger.info("removed abandoned dataset uploads", metadata: ["files.removed": "\(removed)"]) }
    }

    public func workerDidStop() {
        usage.flush()
    }

    /// Writes pending API-key usage now (tests and shutdown).
    public func flushUsage() {
        usage.flush()
    }

    public func respond(to request: Request) -> Response {
        let started = monotonicSeconds()
        let requestID = Self.requestID(from: request.headers["x-request-id"])
        var principal: Principal?
        var response: Response
        do {
            response = try route(request, requestID: requestID, principal: &principal)
        } catch let error as APIError {
            response = .error(error)
        } catch {
            logger.error(
                "unexpected error",
                metadata: ["request.id": "\(requestID)", "error": "\(error)", "http.path": "\(request.path)"]
            )
            response = .error(.internalError)
        }
        response.headers.append(("X-Request-Id", requestID))
        if settings.accessLog {
            accessLog.record(
                requestID: requestID, method: request.method, path: request.path, status: response.status.code,
                durationSeconds: monotonicSeconds() - started, principal: principal
            )
        }
        return response
    }

    private func route(_ request: Request, requestID: String, principal: inout Principal?) throws -> Response {
        if let rejection = request.rejection {
            switch rejection {
            case .bodyTooLarge(let limit):
                throw APIError(.contentTooLarge, "Request body too large", details: "the limit is \(limit) bytes", code: "PAYLOAD_TOO_LARGE")
            case .paramsTooLarge(let limit):
                throw APIError(.headerFieldsTooLarge, "Request headers too large", details: "the limit is \(limit) bytes")
            case .bodyIncomplete:
                throw APIError.badRequest("the body ended before Content-Length bytes", message: "Incomplete request body")
            case .invalidContentLength:
                throw APIError.badRequest("Content-Length must be a non-negative integer", message: "Invalid Content-Length")
            }
        }
        let route: Router.Route
        let parameters: [String: String]
        switch router.match(method: request.method, path: request.path) {
        case .notFound:
            throw APIError.notFound
        case .methodNotAllowed(let allow):
            throw APIError(.methodNotAllowed, "Method not allowed", details: "\(request.method) is not allowed here", code: "METHOD_NOT_ALLOWED")
                .adding(header: "Allow", allow.joined(separator: ", "))
        case .found(let found, let bound):
            route = found
            parameters = bound
        }

        var rateHeaders: [(name: String, value: String)] = []
        if route.auth != .none {
            let caller = try authenticator.authenticate(request.headers, now: wallClockSeconds())
            principal = caller
            if case .apiKey(let keyID, _) = caller.credential {
                let now = Timestamp.now()
                if let rateLimiter {
                    let decision = rateLimiter.check(keyID: keyID, nowMilliseconds: RateLimiter.monotonicMilliseconds())
                    rateHeaders = decision.headers
                    guard decision.allowed else {
                        var error = APIError(.tooManyRequests, "Rate limit exceeded", details: "at most \(decision.limit) requests per window", code: "RATE_LIMITED")
                        error.headers = rateHeaders.map { APIError.Header(name: $0.name, value: $0.value) }
                        throw error
                    }
                }
                usage.record(keyID: keyID, at: now)
            }
            switch (route.auth, caller.credential) {
            case (.trainer, .jobToken(let jobID)):
                // A job token is good for its own job's trainer routes only.
                guard parameters["id"] == jobID else { throw APIError.unauthorized }
            case (_, .jobToken):
                throw APIError.unauthorized
            case (.scope(let scope), _):
                guard caller.allows(scope) else { throw APIError.insufficientScope.withHeaders(rateHeaders) }
            case (.trainer, _):
                guard caller.allows(.training) else { throw APIError.insufficientScope.withHeaders(rateHeaders) }
            case (.session, _):
                guard caller.credential == .session else {
                    throw APIError(.forbidden, "Insufficient scope", details: "API keys are managed with a session token", code: "INSUFFICIENT_SCOPE")
                        .withHeaders(rateHeaders)
                }
            case (.none, _):
                break
            }
        }
        let context = RequestContext(request: request, parameters: parameters, principal: principal, requestID: requestID)
        do {
            var response = try route.handler(context)
            response.headers.append(contentsOf: rateHeaders)
            return response
        } catch let error as APIError {
            throw error.withHeaders(rateHeaders)
        }
    }

    private static let requestIDPrefix = UInt32.random(in: 0...UInt32.max)
    private static let requestCounter = Atomic<UInt64>(0)

    /// The caller's `X-Request-Id` when it is short and plain, else a new one:
    /// 8 hex digits random per process, then 8 of a counter (unique per worker
    /// life, without a syscall per request).
    static func requestID(from incoming: String?) -> String {
        if let incoming, (1...64).contains(incoming.utf8.count),
            incoming.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 })
        {
            return incoming
        }
        let count = requestCounter.wrappingAdd(1, ordering: .relaxed).newValue
        let value = UInt64(requestIDPrefix) << 32 | (count & 0xFFFF_FFFF)
        let hexDigits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 16) { buffer in
            hexDigits.withUTF8Buffer { digits in
                for index in 0..<16 { buffer[index] = digits[Int(value >> UInt64(60 - 4 * index) & 0xF)] }
            }
            return 16
        }
    }
}

extension APIError {
    func withHeaders(_ headers: [(name: String, value: String)]) -> APIError {
        var copy = self
        copy.headers.append(contentsOf: headers.map { Header(name: $0.name, value: $0.value) })
        return copy
    }
}
