import Synchronization

/// How a request's thread waits on the network (a body arriving, another server) without stopping its worker.
/// The pool implements it: the thread's serving seat goes to a parked thread for the wait.
public protocol RequestWaits: Sendable {
    /// Runs `body`, a wait on the network, with the thread's seat given up.
    func waiting<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T
}

/// What a request's store holds on its thread that costs others while the request waits (SQLite's shared read
/// snapshot, which keeps checkpoints short of the WAL's end).
public protocol WaitReleasable: AnyObject, Sendable {
    /// Lets go of it, on the request's thread; the next statement takes it again.
    func releaseBeforeWait()
}

/// The clock of the requests one thread serves: when the current one must end, how long its store work took,
/// its id, and how it waits. The pool makes one per serving thread and arms it for each request; the transport
/// hands it on in `Request.clock`, the application gives it to the store's request scope, so each layer reads
/// the deadline and announces its waits through it. The worker's supervisor reads the id and whether the thread
/// waits from another thread.
public final class RequestClock: @unchecked Sendable {
    // @unchecked: `holder` is set and read only by the thread that serves the clock's requests; every other
    // field is atomic or locked, since the supervisor reads them from its own thread.
    /// Monotonic seconds (`Clocks.monotonicSeconds`) as a bit pattern; +∞ when no deadline is armed.
    private let deadlineBits = Atomic<UInt64>(Double.infinity.bitPattern)
    private let databaseNanoseconds = Atomic<Int64>(0)
    private let ended = Atomic<Bool>(false)
    private let id = Locked("")
    private let waits: (any RequestWaits)?
    private let waitingNow = Atomic<Bool>(false)
    @usableFromInline var holder: (any WaitReleasable)?

    /// - Parameter waits: the pool's side of a wait; none, and a wait keeps the thread's place.
    public init(waits: (any RequestWaits)? = nil) {
        self.waits = waits
    }

    /// Starts a request that must end by `deadline` (monotonic seconds; +∞ for none).
    public func arm(deadline: Double) {
        databaseNanoseconds.store(0, ordering: .relaxed)
        ended.store(false, ordering: .relaxed)
        deadlineBits.store(deadline.bitPattern, ordering: .relaxed)
    }

    /// Ends the request: no deadline until the next `arm`.
    public func disarm() {
        deadlineBits.store(Double.infinity.bitPattern, ordering: .relaxed)
        id.withLock { $0 = "" }
    }

    /// When the current request must end (monotonic seconds), +∞ when none.
    public var deadline: Double { Double(bitPattern: deadlineBits.load(ordering: .relaxed)) }

    /// Seconds left before the deadline (negative once past it), +∞ when none.
    public var remainingSeconds: Double { deadline - Clocks.monotonicSeconds() }

    /// Whether the deadline has passed.
    public var isPastDeadline: Bool {
        let deadline = self.deadline
        return deadline.isFinite && Clocks.monotonicSeconds() >= deadline
    }

    /// Whether the deadline ended the current request (its answer is the 504 of `noteDeadlineEnded`).
    public var deadlineEnded: Bool { ended.load(ordering: .relaxed) }

    /// Records that the current request is answered 504 because its deadline passed.
    public func noteDeadlineEnded() { ended.store(true, ordering: .relaxed) }

    /// Counts `seconds` of store work for the current request.
    public func addDatabaseTime(seconds: Double) {
        databaseNanoseconds.wrappingAdd(Int64(seconds * 1e9), ordering: .relaxed)
    }

    /// Seconds of store work counted since `arm`.
    public var databaseSeconds: Double { Double(databaseNanoseconds.load(ordering: .relaxed)) / 1e9 }

    /// Runs `body`, the request's work in `holder`'s scope: each wait of the request lets go of what `holder`
    /// holds first. Called on the serving thread. One holder at a time: a request works on one store, and a
    /// scope inside another (a second store's) is run as part of the outer one, its holder not registered.
    @inlinable
    public func holding<T>(_ holder: any WaitReleasable, _ body: () throws -> T) rethrows -> T {
        guard self.holder == nil else { return try body() }
        self.holder = holder
        defer { self.holder = nil }
        return try body()
    }

    /// Runs `body`, a wait on the network (a body arriving, another server): what the request's store holds is
    /// let go of first, and the thread's serving seat, if the pool gave it one, goes to a parked thread until
    /// the wait ends.
    @inline(__always)
    public func waiting<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        holder?.releaseBeforeWait()
        guard let waits else { return try body() }
        waitingNow.store(true, ordering: .relaxed)
        defer { waitingNow.store(false, ordering: .relaxed) }
        return try waits.waiting(body)
    }

    /// Whether the thread is inside `waiting` now (its seat given up), read by the worker's supervisor.
    public var isWaiting: Bool { waitingNow.load(ordering: .relaxed) }

    /// The current request's id, set by the application once it has one ("" before).
    public var requestID: String {
        get { id.withLock { $0 } }
        set { id.withLock { $0 = newValue } }
    }
}
