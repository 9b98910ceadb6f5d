public import FastCGITransport
public import HTTPCore

/// How a worker's threads find the requests they serve.
public enum WorkerDispatch: Sendable, Equatable {
    /// `seats` threads wait on every connection at once and serve whichever has a request ready; the other
    /// threads stand by for requests that wait on the network (`ServingSeats`). Kept connections hold no thread.
    case events(seats: Int)
    /// libfcgi's own model: each thread accepts a connection and serves only it until nginx closes it, so
    /// workers × threads must cover nginx's kept upstream connections (see docs/operations.md).
    case threadPerConnection
}

/// How one worker process serves.
public struct WorkerSettings: Sendable {
    /// Threads: what may serve at once, requests that wait on the network included.
    public var threads: Int
    public var dispatch: WorkerDispatch = .events(seats: 2)
    public var limits: TransportLimits
    /// How long in-flight requests may run after SIGTERM before the worker exits anyway.
    public var drainTimeout: Double
    /// The master shuts the listening socket down when stopping: threads
    /// blocked in accept() then take what is still queued and get EINVAL
    /// once the queue is empty, so they are not interrupted (nothing queued is lost).
    public var listenerClosesOnStop: Bool
    /// The master's pid: a worker whose parent changes drains and exits.
    public var masterPID: Int32
    /// A request still running this long gets a 504 from the store or the Hub call it waits on (0: no deadline);
    /// at twice this long its thread's stack is logged and the worker is recycled.
    public var requestTimeout: Double = 30
    /// A request still running this long is logged once, with its thread's stack (0: off).
    public var slowLogSeconds: Double = 0
    /// After this many requests the worker asks to be replaced (0: never); the jitter is already added.
    public var maximumRequests: Int = 0
    /// Above this much anonymous memory, checked between requests, the worker asks to be replaced (0: never).
    public var maximumAnonymousBytes: Int = 0
    /// Count requests in the scoreboard (off only to measure what counting costs).
    public var countsRequests = true
    /// How long a draining worker leaves idle kept connections for nginx to use once more or close; longer
    /// than nginx's upstream `keepalive_timeout` (4 s in `nginx.conf.example`), so nginx closes them first.
    public var keptConnectionGrace: Double = 5

    public init(threads: Int, limits: TransportLimits, drainTimeout: Double, listenerClosesOnStop: Bool, masterPID: Int32) {
        self.threads = threads
        self.limits = limits
        self.drainTimeout = drainTimeout
        self.listenerClosesOnStop = listenerClosesOnStop
        self.masterPID = masterPID
    }
}

/// The worker's place on the pool's scoreboard.
public struct ScoreboardSeat: Sendable {
    public let board: Scoreboard
    public let slot: Int

    public init(board: Scoreboard, slot: Int) {
        self.board = board
        self.slot = slot
    }
}

/// The application as a worker serves it: its responder, and what the pool's metrics and its stop need of it.
public struct WorkerApplication<R: Responder>: Sendable {
    public let responder: R
    /// Every route as metrics name it: its method and its pattern as the API document writes it
    /// (`/api/training/jobs/{id}`). Fixed for the worker's life.
    public let routeLabels: [(method: String, pattern: String)]
    /// The index in `routeLabels` of what a match found; nil when it matched no route (a 404 or 405).
    public let routeLabel: @Sendable (R.Route) -> Int?
    /// Called once when the worker has stopped serving, before it exits.
    public let didStop: @Sendable () -> Void

    public init(
        responder: R, routeLabels: [(method: String, pattern: String)] = [], routeLabel: @escaping @Sendable (R.Route) -> Int? = { _ in nil },
        didStop: @escaping @Sendable () -> Void = {}
    ) {
        self.responder = responder
        self.routeLabels = routeLabels
        self.routeLabel = routeLabel
        self.didStop = didStop
    }
}
