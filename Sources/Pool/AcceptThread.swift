import Essentials
import FastCGITransport
import HTTPCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One accept thread and what the supervisor needs to know about it.
final class AcceptThread: Sendable {
    /// Whether a request is being handled, guarded so the supervisor never interrupts a thread in the middle of
    /// one, and the slot of the last request (with a thread per connection, the thread's own slot, always).
    let current: Locked<(busy: Bool, slot: FastCGISlot?)>
    /// The worker's seats, with the event dispatch.
    let seats: ServingSeats?
    /// Whether the supervisor lent a seat for the current request (`ServingSeats.lend`).
    let lentSeat = Atomic<Bool>(false)
    let finished = Atomic<Bool>(false)
    let handle = Locked<pthread_t?>(nil)
    let clock: RequestClock
    let stack = StackSample()
    /// When the current request was accepted (monotonic seconds, bit pattern); 0 between requests.
    let startedBits = Atomic<UInt64>(0)
    /// The current request's route label, -1 while unmatched.
    let routeLabel = Atomic<Int>(-1)
    /// What the supervisor has logged about the current request: 1 slow, 2 stuck too.
    let reported = Atomic<Int>(0)
    /// The supervisor's window on the current streamed body: when it began, the bytes received then, and
    /// the request it belongs to (`startedBits`).
    let bodyWindow = Locked<(start: Double, bytes: Int, request: UInt64)?>(nil)

    init(slot: FastCGISlot?, seats: ServingSeats?) {
        current = Locked((false, slot))
        self.seats = seats
        clock = RequestClock(waits: seats.map(SeatedWaits.init))
    }
}

final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// How a serving thread waits on the network: its seat goes to a parked thread for the wait.
private struct SeatedWaits: RequestWaits {
    let seats: ServingSeats

    func waiting<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        seats.give()
        defer { seats.retake() }
        return try body()
    }
}

extension PoolWorker {
    /// A thread of `.threadPerConnection`: accepts a connection with its own slot and serves it until it closes.
    static func serveConnections<R: Responder>(
        _ thread: AcceptThread, _ slot: FastCGISlot, listenFD: Int32, application: WorkerApplication<R>, settings: WorkerSettings,
        seat: ScoreboardSeat?, stopping: StopFlag, logger: Logger
    ) {
        defer { thread.finished.store(true, ordering: .releasing) }
        StackSampler.register(thread.stack)
        // A kept connection still open when the worker stops (its last answer went out just before) is served on
        // until it ends, as the drain has it: left to the process's exit, it would close while nginx sends on it.
        while !stopping.value.load(ordering: .acquiring) || slot.connectionFD >= 0 {
            guard slot.accept() else {
                logRefusal(of: slot, logger)
                if stopping.value.load(ordering: .acquiring) { return }
                // A transient accept failure (EMFILE, ECONNABORTED...): don't spin. A listener left non-blocking by
                // workers of the event dispatch (before a reload) says EAGAIN instead of blocking: wait for it to be ready.
                if slot.connectionFD < 0 && fcntl(listenFD, F_GETFL) & O_NONBLOCK != 0 {
                    var listener = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
                    if poll(&listener, 1, 100) > 0 { Clocks.sleep(seconds: 0.001) }
                } else {
                    Clocks.sleep(seconds: 0.01)
                }
                continue
            }
            serveRequest(on: slot, thread, application: application, settings: settings, seat: seat, stopping: stopping)
        }
    }

    /// A thread of `.events`: while it holds a seat, serves whichever connection has a request ready.
    static func serveEvents<R: Responder>(
        _ thread: AcceptThread, _ dispatch: ConnectionDispatch, _ seats: ServingSeats, application: WorkerApplication<R>,
        settings: WorkerSettings, seat: ScoreboardSeat?, stopping: StopFlag, logger: Logger
    ) {
        defer { thread.finished.store(true, ordering: .releasing) }
        StackSampler.register(thread.stack)
        guard seats.take() else { return }
        while true {
            seats.willWaitForWork()
            let event = dispatch.next()
            seats.gotWork()
            switch event {
            case .stop:
                seats.give()
                return
            case .listener(let shutDown):
                dispatch.acceptQueued(shutDown: shutDown)
            case .deferralOver:
                dispatch.acceptDeferred()
            case .connection(let connection):
                connection.serving.withLock { $0 = true }
                let slot = connection.slot
                if slot.accept() {
                    serveRequest(on: slot, thread, application: application, settings: settings, seat: seat, stopping: stopping)
                } else {
                    logRefusal(of: slot, logger)
                }
                connection.serving.withLock { $0 = false }
                dispatch.rearm(connection)
            }
            if seats.isOverbooked {
                seats.give()
                guard seats.take() else { return }
            }
        }
    }

    /// Logs why `slot`'s last accept closed its connection unread, if it did.
    private static func logRefusal(of slot: FastCGISlot, _ logger: Logger) {
        guard let reason = slot.lastRefusal else { return }
        logger.warning("FastCGI request refused unread; connection closed", metadata: ["reason": "\(reason)"])
    }

    /// Serves the request `slot` has accepted (`FastCGISlot.serve`), with the pool's part around it: the
    /// deadline, the supervisor's view of the thread, the scoreboard's counts, a lent seat given back.
    private static func serveRequest<R: Responder>(
        on slot: FastCGISlot, _ thread: AcceptThread, application: WorkerApplication<R>, settings: WorkerSettings, seat: ScoreboardSeat?,
        stopping: StopFlag
    ) {
        let counting = settings.countsRequests ? seat : nil
        thread.current.withLock { $0 = (true, slot) }
        let started = Clocks.monotonicSeconds()
        thread.clock.arm(deadline: settings.requestTimeout > 0 ? started + settings.requestTimeout : .infinity)
        thread.startedBits.store(started.bitPattern, ordering: .releasing)
        let served = counting.map { $0.board.requestStarted(slot: $0.slot) } ?? 0
        var label: Int?
        let outcome = slot.serve(
            with: application.responder, clock: thread.clock,
            routed: { route in
                label = application.routeLabel(route)
                thread.routeLabel.store(label ?? -1, ordering: .relaxed)
            }, closeConnection: { stopping.value.load(ordering: .acquiring) })
        if let counting {
            let board = counting.board
            if thread.clock.deadlineEnded { board.countTimedOut() }
            board.requestFinished(
                slot: counting.slot, route: label, method: outcome.method, status: outcome.status,
                seconds: Clocks.monotonicSeconds() - started, databaseSeconds: thread.clock.databaseSeconds)
            if served == settings.maximumRequests { board.requestRecycle(slot: counting.slot, .maxRequests) }
        }
        thread.startedBits.store(0, ordering: .releasing)
        if thread.lentSeat.exchange(false, ordering: .acquiringAndReleasing) { thread.seats?.reclaim() }
        thread.reported.store(0, ordering: .relaxed)
        thread.clock.disarm()
        thread.current.withLock { $0.busy = false }
    }
}
