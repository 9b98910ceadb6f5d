import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The clock of the request running on one accept thread: when it must end, how long its store work took,
/// and its request id. The pool installs one per accept thread and arms it for each request; the layers
/// below (the store, the Hub client) read `RequestClock.current` on their own thread to honour the deadline
/// and to count their time; the worker's supervisor reads the deadline and the id from another thread.
public final class RequestClock: Sendable {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The clock installed on the calling thread, if any.
    @inline(__always)
    public static var current: RequestClock? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<RequestClock>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Monotonic seconds (`Clocks.monotonicSeconds`) as a bit pattern; +∞ when no deadline is armed.
    private let deadlineBits = Atomic<UInt64>(Double.infinity.bitPattern)
    private let databaseNanoseconds = Atomic<Int64>(0)
    private let ended = Atomic<Bool>(false)
    private let id = Locked("")

    /// The seats of the worker whose thread this clock belongs to, if it dispatches by seats.
    let seats: ServingSeats?
    private let waitingNow = Atomic<Bool>(false)

    public init(seats: ServingSeats? = nil) {
        self.seats = seats
    }

    /// Makes this the calling thread's clock; it must outlive the thread's use of it.
    public func install() {
        pthread_setspecific(Self.key, Unmanaged.passUnretained(self).toOpaque())
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

    /// What a thread may hold on behalf of its request that costs others while the request waits (the
    /// SQLite store's shared read snapshot), by owner: each hook lets go of the calling thread's share.
    private static let waitHooks = Locked<[ObjectIdentifier: @Sendable () -> Void]>([:])

    /// Registers `release`, which `willWait` runs on a request's thread, until `removeWaitHook(of:)`.
    public static func addWaitHook(of owner: AnyObject, _ release: @escaping @Sendable () -> Void) {
        waitHooks.withLock { $0[ObjectIdentifier(owner)] = release }
    }

    public static func removeWaitHook(of owner: AnyObject) {
        waitHooks.withLock { $0[ObjectIdentifier(owner)] = nil }
    }

    /// Called on a request's thread before it waits on the network (its body arriving, another server):
    /// lets go of what the thread holds that others would wait for meanwhile.
    public static func willWait() {
        // The dictionary itself, not an array of its values: a copy shares its storage, so nothing is allocated
        // per call, and the hooks run outside the lock.
        let hooks = waitHooks.withLock { $0 }
        for release in hooks.values { release() }
    }

    /// Runs `body`, a wait on the network (a body arriving, another server), after `willWait`: the calling
    /// thread's serving seat, if it holds one, goes to a parked thread until the wait ends.
    @inline(__always)
    public static func waiting<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        willWait()
        let clock = current
        let seats = clock?.seats
        seats?.give()
        clock?.waitingNow.store(true, ordering: .relaxed)
        defer {
            clock?.waitingNow.store(false, ordering: .relaxed)
            seats?.retake()
        }
        return try body()
    }

    /// Whether the thread is inside `waiting` now (its seat given up), read by the worker's supervisor.
    public var isWaiting: Bool { waitingNow.load(ordering: .relaxed) }

    /// The current request's id, set by the application once it has one ("" before).
    public var requestID: String {
        get { id.withLock { $0 } }
        set { id.withLock { $0 = newValue } }
    }
}
