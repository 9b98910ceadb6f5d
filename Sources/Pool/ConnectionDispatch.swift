private import CEpoll
import Essentials
import FastCGITransport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One kept nginx connection of a worker that dispatches by events, with its libfcgi slot.
final class DispatchedConnection: Sendable {
    let slot: FastCGISlot
    /// True while a thread serves a request on it; the supervisor shuts only idle connections down, under
    /// this lock, so it never cuts a request, nor a connection whose fd libfcgi has closed (and the
    /// kernel may have given to another).
    let serving = Locked(false)

    init(slot: FastCGISlot) { self.slot = slot }
}

/// A worker's listening socket and kept connections in one epoll set, which its seated threads wait on
/// (`ServingSeats`): whichever is free takes the next connection with a request ready, so no thread is tied
/// to a connection that nginx keeps idle.
///
/// Each connection is armed for one event at a time (`EPOLLONESHOT`): the thread that gets it owns the
/// connection until it re-arms it after the request, or forgets it once libfcgi has closed it.
///
/// nginx keeps its connections, so whichever worker accepts one serves its requests for as long as nginx
/// keeps it. The workers therefore share new connections out by count: each publishes how many it holds
/// on the scoreboard, and one that holds more than another worker taking connections leaves the queue to
/// it, checking every millisecond, for up to `deferralPatienceMilliseconds` before taking a connection itself (that
/// worker may be busy, or stuck).
final class ConnectionDispatch: @unchecked Sendable {
    // @unchecked: the epoll set, the eventfd and the timerfd are the kernel's and safe to share;
    // `connections` is reached only with its lock, and `listening` is atomic.
    enum Event {
        /// The listening socket has connections queued, or was shut down (`shutDown`): `acceptQueued(shutDown:)`.
        case listener(shutDown: Bool)
        /// The queue was left to another worker a millisecond ago: `acceptDeferred()`.
        case deferralOver
        /// A kept connection has input: its next request, or its end.
        case connection(DispatchedConnection)
        /// `stop()` was called.
        case stop
    }

    private static let listenerToken: UInt64 = 0
    private static let stopToken: UInt64 = 1
    private static let deferralToken: UInt64 = 2
    /// How often a worker that left the queue to another checks whether that one took it.
    private static let deferralCheckNanoseconds = 1_000_000
    /// How long a worker leaves a queued connection to another before taking it itself (the other may be
    /// busy, or stuck): long enough for a worker the scheduler has not run yet, short enough that nginx
    /// does not notice the wait.
    private static let deferralPatienceMilliseconds: Int64 = 10

    private let epollFD: Int32
    private let stopFD: Int32
    private let deferralFD: Int32
    private let listenFD: Int32
    private let seat: ScoreboardSeat?
    private let limits: TransportLimits
    private let admission: StreamedBodyAdmission
    /// Every open connection, by identity: holds the reference each armed event's token stands for.
    private let connections = Locked<[ObjectIdentifier: DispatchedConnection]>([:])
    private let listening = Atomic<Bool>(true)
    /// Set while the listener is left unarmed because accept() ran out of descriptors or memory.
    private let listenerPaused = Atomic<Bool>(false)
    /// When the worker started to leave queued connections to another (monotonic milliseconds). Only the thread
    /// that has the listener's or the timer's one-shot event touches it; atomic to say so to the compiler.
    private let deferredSince = Atomic<Int64>(0)

    /// Without `seat` (no scoreboard), the worker takes every connection it is woken for.
    init(listenFD: Int32, limits: TransportLimits, admission: StreamedBodyAdmission, seat: ScoreboardSeat?) throws(SystemError) {
        self.listenFD = listenFD
        self.seat = seat
        self.limits = limits
        self.admission = admission
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw SystemError("epoll_create1", errno: errno) }
        stopFD = eventfd(0, Int32(EFD_CLOEXEC))
        guard stopFD >= 0 else { throw SystemError("eventfd", errno: errno) }
        deferralFD = timerfd_create(CLOCK_MONOTONIC, O_CLOEXEC | O_NONBLOCK)
        guard deferralFD >= 0 else { throw SystemError("timerfd_create", errno: errno) }
        // Non-blocking, so that a thread woken with the other workers for one queued connection does not
        // stay in accept() once they have taken it. (Every worker shares the socket's flags.)
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
        // Level-triggered: once stopped, every thread waiting returns.
        try control(EPOLL_CTL_ADD, stopFD, events: EPOLLIN.rawValue, token: Self.stopToken)
        try control(EPOLL_CTL_ADD, listenFD, events: Self.listenerEvents, token: Self.listenerToken)
        // Armed, but silent until a deferral sets the timer.
        try control(EPOLL_CTL_ADD, deferralFD, events: Self.deferralEvents, token: Self.deferralToken)
        publishTakesConnections(true)
    }

    deinit {
        close(deferralFD)
        close(stopFD)
        close(epollFD)
    }

    /// Waits for the next event.
    func next() -> Event {
        var event = epoll_event()
        // Only EINTR is expected; anything else must not turn into a busy loop.
        while (try? retryingOnInterrupt("epoll_wait", { epoll_wait(epollFD, &event, 1, -1) })) != 1 { Clocks.sleep(seconds: 0.01) }
        switch event.data.u64 {
        case Self.listenerToken: return .listener(shutDown: event.events & (EPOLLRDHUP.rawValue | EPOLLHUP.rawValue) != 0)
        case Self.stopToken: return .stop
        case Self.deferralToken: return .deferralOver
        case let token:
            let pointer = UnsafeRawPointer(bitPattern: UInt(token))!
            return .connection(Unmanaged<DispatchedConnection>.fromOpaque(pointer).takeUnretainedValue())
        }
    }

    /// Takes one connection queued on the listening socket and watches it, then re-arms the listener: one at
    /// a time, so that a burst of new connections is shared with the other workers' threads, woken too. A
    /// worker that holds more connections than another that takes them leaves the queue to that one
    /// (`leaveQueueToAnotherWorker`). Once the queue of a socket the master shut down (`shutDown`) is
    /// empty, or accept() fails for good, stops listening: a shut-down socket stays readable, and its
    /// accept() says EAGAIN, not EINVAL, when it does not block.
    func acceptQueued(shutDown: Bool) {
        if !shutDown, holdsMoreThanAnotherWorker, leaveQueueToAnotherWorker(since: Clocks.monotonicMilliseconds()) { return }
        acceptOne(shutDown: shutDown)
    }

    /// The deferral timer ended: listens again if another worker took what was queued; otherwise waits once
    /// more while this worker still holds more connections than another and its patience lasts, or takes
    /// one connection.
    func acceptDeferred() {
        var expirations: UInt64 = 0
        _ = read(deferralFD, &expirations, MemoryLayout<UInt64>.size)
        guard listening.load(ordering: .acquiring) else { return }
        let since = deferredSince.load(ordering: .acquiring)
        var queue = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
        if poll(&queue, 1, 0) == 1, Clocks.monotonicMilliseconds() - since < Self.deferralPatienceMilliseconds, holdsMoreThanAnotherWorker,
            leaveQueueToAnotherWorker(since: since)
        {
            return
        }
        acceptOne(shutDown: false)
    }

    private var holdsMoreThanAnotherWorker: Bool {
        guard let seat else { return false }
        return seat.board.anotherWorkerHoldsFewerConnections(than: connections.withLock { $0.count }, slot: seat.slot)
    }

    /// Leaves the listener unarmed for `deferralCheckNanoseconds` (the other workers' threads are woken
    /// meanwhile); false when the timer cannot be set.
    private func leaveQueueToAnotherWorker(since: Int64) -> Bool {
        deferredSince.store(since, ordering: .releasing)
        var due = itimerspec()
        due.it_value.tv_nsec = Self.deferralCheckNanoseconds
        return timerfd_settime(deferralFD, 0, &due, nil) == 0
            && (try? control(EPOLL_CTL_MOD, deferralFD, events: Self.deferralEvents, token: Self.deferralToken)) != nil
    }

    private func acceptOne(shutDown: Bool) {
        accepting: while true {
            let fd = accept(listenFD, nil, nil)
            if fd >= 0 {
                // The worker starts no program; close-on-exec only in case something ever does.
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                watch(fd)
                break
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK:
                if shutDown { return stopListening() }
                break accepting
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                // The queue stays readable: the supervisor re-arms the listener a moment later (`resumeListening`).
                listenerPaused.store(true, ordering: .releasing)
                publishTakesConnections(false)
                return
            case EBADF, EINVAL, ENOTSOCK:
                return stopListening()
            default:
                // A connection that failed before it was taken (ECONNABORTED, EPROTO, a TCP peer's network error):
                // the next one is still there.
                continue
            }
        }
        if listening.load(ordering: .acquiring) {
            _ = try? control(EPOLL_CTL_MOD, listenFD, events: Self.listenerEvents, token: Self.listenerToken)
        }
    }

    private func watch(_ fd: Int32) {
        let connection = DispatchedConnection(slot: FastCGISlot(connectionFD: fd, limits: limits, admission: admission))
        connections.withLock {
            $0[ObjectIdentifier(connection)] = connection
            publishCount($0.count)
        }
        do {
            try control(EPOLL_CTL_ADD, fd, events: Self.connectionEvents, token: Self.token(of: connection))
        } catch {
            // Dropping the slot closes the connection: nginx retries the request elsewhere or answers 502.
            forget(connection)
        }
    }

    private static let connectionEvents = EPOLLIN.rawValue | EPOLLONESHOT.rawValue
    private static let listenerEvents = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue
    private static let deferralEvents = EPOLLIN.rawValue | EPOLLONESHOT.rawValue

    private static func token(of connection: DispatchedConnection) -> UInt64 {
        UInt64(UInt(bitPattern: Unmanaged.passUnretained(connection).toOpaque()))
    }

    /// After a request: watches the connection for the next one, or forgets it when libfcgi closed it.
    func rearm(_ connection: DispatchedConnection) {
        let fd = connection.slot.connectionFD
        guard fd >= 0 else { return forget(connection) }
        do {
            try control(EPOLL_CTL_MOD, fd, events: Self.connectionEvents, token: Self.token(of: connection))
        } catch {
            // Under the lock the supervisor holds while it shuts idle connections down, so the fd it reads is still this one.
            connection.serving.withLock { _ in connection.slot.closeConnection() }
            forget(connection)
        }
    }

    /// Drops a connection whose fd libfcgi closed (or is closing with the slot).
    func forget(_ connection: DispatchedConnection) {
        connections.withLock {
            $0.removeValue(forKey: ObjectIdentifier(connection))
            publishCount($0.count)
        }
    }

    /// Whether other workers may leave new connections to this one.
    private func publishTakesConnections(_ takes: Bool) {
        seat.map { $0.board.setTakesConnections(slot: $0.slot, takes) }
    }

    /// Under the connections' lock, so that counts reach the scoreboard in order.
    private func publishCount(_ count: Int) {
        seat.map { $0.board.setConnections(slot: $0.slot, count) }
    }

    /// Re-arms a listener paused for want of descriptors or memory (called by the supervisor every 0.1 s).
    func resumeListening() {
        guard listenerPaused.exchange(false, ordering: .acquiringAndReleasing), listening.load(ordering: .acquiring) else { return }
        _ = try? control(EPOLL_CTL_MOD, listenFD, events: Self.listenerEvents, token: Self.listenerToken)
        publishTakesConnections(true)
    }

    /// Stops accepting: connections still queued are left to the other workers.
    func stopListening() {
        guard listening.exchange(false, ordering: .acquiringAndReleasing) else { return }
        publishTakesConnections(false)
        epoll_ctl(epollFD, EPOLL_CTL_DEL, listenFD, nil)
    }

    var isListening: Bool { listening.load(ordering: .acquiring) }

    /// The connections open now.
    var openConnections: [DispatchedConnection] { connections.withLock { Array($0.values) } }

    /// Wakes every thread waiting in `next()`, and every later call, with `.stop`.
    func stop() {
        var one: UInt64 = 1
        _ = write(stopFD, &one, MemoryLayout<UInt64>.size)
    }

    private func control(_ operation: Int32, _ fd: Int32, events: UInt32, token: UInt64) throws(SystemError) {
        var event = epoll_event(events: events, data: epoll_data_t(u64: token))
        guard epoll_ctl(epollFD, operation, fd, &event) == 0 else { throw SystemError("epoll_ctl", errno: errno) }
    }
}
