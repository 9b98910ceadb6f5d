import Essentials
import FastCGITransport
public import HTTPCore
public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A worker process: T threads that serve requests (`WorkerDispatch`), and a
/// supervisor (the main thread) that waits for SIGTERM/SIGINT and drains.
public enum PoolWorker {
    /// The signals the supervisor waits for. Block them before the process
    /// starts any thread, so that no thread (a flusher, a library's) can
    /// receive one and be killed by its default action.
    public static func blockStopSignals() {
        var stopSignals = Signals.set([SIGTERM, SIGINT, SIGHUP])
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
    }

    /// Serves on `listenFD` until told to stop; returns the exit status.
    public static func run<R: Responder>(
        listenFD: Int32, settings: WorkerSettings, application: WorkerApplication<R>, seat: ScoreboardSeat? = nil, logger: Logger
    ) -> Int32 {
        guard FastCGILibrary.initialize() else {
            logger.critical("FCGX_Init failed")
            return 1
        }
        // After FCGX_Init: take SIGTERM/SIGINT/SIGHUP away from libfcgi's
        // handlers and receive them with sigwait on this thread alone (the
        // mask is inherited by the threads started below).
        var stopSignals = Signals.set([SIGTERM, SIGINT, SIGHUP])
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        signal(SIGPIPE, SIG_IGN)
        // libfcgi's SIGUSR1 handler would set its shutdown flag and silently
        // stop every accept thread; the pool drains on SIGTERM only.
        signal(SIGUSR1, SIG_IGN)
        // SIGUSR2 only interrupts a blocking accept()/read(): no SA_RESTART.
        var wake = sigaction()
        wake.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&wake.sa_mask)
        wake.sa_flags = 0
        sigaction(SIGUSR2, &wake, nil)

        StackSampler.install()
        let labels = application.routeLabels
        seat?.board.publishRouteLabels(labels)
        let stopping = StopFlag()
        var threads: [AcceptThread] = []
        let admission = StreamedBodyAdmission(limit: settings.limits.maxStreamedBodies)
        var events: (dispatch: ConnectionDispatch, seats: ServingSeats)?
        if case .events(let seats) = settings.dispatch {
            do {
                events = (
                    try ConnectionDispatch(listenFD: listenFD, limits: settings.limits, admission: admission, seat: seat), ServingSeats(seats: seats)
                )
            } catch {
                logger.critical("cannot set up the event dispatch", metadata: ["error": "\(error)"])
                return 1
            }
        }
        for _ in 0..<max(1, settings.threads) {
            let thread: AcceptThread
            let body: @Sendable () -> Void
            if let events {
                thread = AcceptThread(slot: nil, seats: events.seats)
                body = {
                    serveEvents(
                        thread, events.dispatch, events.seats, application: application, settings: settings, seat: seat, stopping: stopping,
                        logger: logger)
                }
            } else {
                let slot = FastCGISlot(listenFD: listenFD, limits: settings.limits, admission: admission)
                thread = AcceptThread(slot: slot, seats: nil)
                body = {
                    serveConnections(
                        thread, slot, listenFD: listenFD, application: application, settings: settings, seat: seat, stopping: stopping,
                        logger: logger)
                }
            }
            threads.append(thread)
            do {
                let handle = try Threads.start(body)
                thread.handle.withLock { $0 = handle }
            } catch {
                logger.critical("cannot start accept thread", metadata: ["error": "\(error)"])
                return 1
            }
        }
        seat.map { $0.board.setState(slot: $0.slot, .serving) }
        logger.info("worker serving", metadata: ["worker.threads": "\(threads.count)"])

        var nextMemoryCheck = 0.0
        while true {
            if getppid() != settings.masterPID {
                logger.warning("master is gone; worker draining", metadata: ["pool.master_pid": "\(settings.masterPID)"])
                break
            }
            var timeout = timespec(seconds: 0.1)
            let received = sigtimedwait(&stopSignals, nil, &timeout)
            if received == SIGTERM || received == SIGINT {
                logger.info("worker draining", metadata: ["signal": "\(received)"])
                break
            }
            let now = Clocks.monotonicSeconds()
            watch(threads, labels: labels, settings: settings, seat: seat, logger: logger, now: now)
            if let events {
                lendSeats(threads, events.seats, now: now)
                events.dispatch.resumeListening()
            }
            if now >= nextMemoryCheck, let seat {
                nextMemoryCheck = now + 1
                checkMemory(settings: settings, seat: seat, logger: logger)
            }
        }
        seat.map { $0.board.setState(slot: $0.slot, .draining) }

        // Not FCGX_ShutdownPending: libfcgi then loops on the closed fd of a
        // connection whose first read was interrupted. The stop flag, plus
        // FAIL_ACCEPT_ON_INTR and SIGUSR2, end the loops instead.
        stopping.value.store(true, ordering: .sequentiallyConsistent)
        let started = Clocks.monotonicSeconds()
        let deadline = started + settings.drainTimeout
        if let events {
            drain(events.dispatch, events.seats, threads: threads, settings: settings, started: started, deadline: deadline)
        } else {
            drainConnections(threads: threads, settings: settings, started: started, deadline: deadline)
        }
        let unfinished = threads.filter { !$0.finished.load(ordering: .acquiring) }.count
        if unfinished > 0 {
            logger.warning("drain deadline passed with requests in flight", metadata: ["worker.unfinished_threads": "\(unfinished)"])
        }
        application.didStop()
        logger.info("worker stopped")
        return 0
    }

    /// A request that has kept its seat this long is waiting on something it did not announce.
    static let lendSeatAfterSeconds = 0.2

    /// Lends a seat for each request that has held its seat past `lendSeatAfterSeconds` (not one that gave it up
    /// to wait on the network): the worker keeps its seats running whatever one request waits on.
    private static func lendSeats(_ threads: [AcceptThread], _ seats: ServingSeats, now: Double) {
        for thread in threads {
            let bits = thread.startedBits.load(ordering: .acquiring)
            guard bits != 0, now - Double(bitPattern: bits) >= lendSeatAfterSeconds, !thread.clock.isWaiting,
                thread.lentSeat.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
            else { continue }
            seats.lend()
            // The request may have ended meanwhile, before it could see the loan: take it back (once, whoever is first).
            if thread.startedBits.load(ordering: .acquiring) != bits, thread.lentSeat.exchange(false, ordering: .acquiringAndReleasing) {
                seats.reclaim()
            }
        }
    }

    /// The drain of `.threadPerConnection`: interrupts (SIGUSR2) threads idle in accept() once the queue is
    /// taken, and threads idle on a kept connection after `keptConnectionGrace`, until every thread has ended.
    private static func drainConnections(threads: [AcceptThread], settings: WorkerSettings, started: Double, deadline: Double) {
        while Clocks.monotonicSeconds() < deadline {
            var running = 0
            // Threads in accept() are left to drain the queue while the
            // master's shutdown makes accept() end; after a grace period (or
            // when the socket stays open) they are interrupted too.
            let elapsed = Clocks.monotonicSeconds() - started
            let interruptAccepting = !settings.listenerClosesOnStop || elapsed > 2
            for thread in threads where !thread.finished.load(ordering: .acquiring) {
                running += 1
                // Never a thread inside a request. A thread idle on a kept connection is left to nginx for
                // `keptConnectionGrace`: a request nginx sends on it meanwhile is served (and the connection
                // closed after it), and nginx closes connections idle past its upstream keepalive_timeout,
                // which is shorter. Closing one ourselves could cut a request nginx is sending at that moment.
                thread.current.withLock { current in
                    guard !current.busy else { return }
                    let connection = current.slot?.connectionFD ?? -1
                    if connection >= 0 {
                        guard elapsed > settings.keptConnectionGrace, !hasPendingInput(connection) else { return }
                    } else {
                        guard interruptAccepting else { return }
                    }
                    if let handle = thread.handle.withLock({ $0 }) { pthread_kill(handle, SIGUSR2) }
                }
            }
            if running == 0 { break }
            Clocks.sleep(seconds: 0.02)
        }
    }

    /// The drain of `.events`: stops listening (after the queue, when the master shuts the socket down),
    /// serves what comes on open connections, each then closed, and shuts idle kept connections down after
    /// `keptConnectionGrace`, unless a request waits on one; then stops the threads.
    private static func drain(
        _ dispatch: ConnectionDispatch, _ seats: ServingSeats, threads: [AcceptThread], settings: WorkerSettings, started: Double,
        deadline: Double
    ) {
        if !settings.listenerClosesOnStop { dispatch.stopListening() }
        while Clocks.monotonicSeconds() < deadline {
            let elapsed = Clocks.monotonicSeconds() - started
            // The master shuts the socket down, and accept() then fails once the queue is empty; in case it doesn't:
            if elapsed > 2 { dispatch.stopListening() }
            let open = dispatch.openConnections
            if open.isEmpty && !dispatch.isListening { break }
            if elapsed > settings.keptConnectionGrace {
                for connection in open {
                    connection.serving.withLock { serving in
                        let fd = connection.slot.connectionFD
                        // Once shut down, the connection reads as having input (its end) until its thread takes it.
                        guard !serving, fd >= 0, !hasPendingInput(fd) else { return }
                        // Its thread then reads the end, and libfcgi closes it.
                        shutdown(fd, Int32(SHUT_RDWR))
                    }
                }
            }
            dispatch.resumeListening()
            Clocks.sleep(seconds: 0.02)
        }
        dispatch.stopListening()
        dispatch.stop()
        seats.close()
        while Clocks.monotonicSeconds() < deadline && threads.contains(where: { !$0.finished.load(ordering: .acquiring) }) {
            Clocks.sleep(seconds: 0.01)
        }
    }

    /// The slow log and the stuck-thread check: a request past `slowLogSeconds` is logged once with its
    /// thread's stack; one past twice its deadline is logged again and the worker asks to be replaced.
    private static func watch(
        _ threads: [AcceptThread], labels: [(method: String, pattern: String)], settings: WorkerSettings, seat: ScoreboardSeat?,
        logger: Logger, now: Double
    ) {
        for thread in threads {
            let bits = thread.startedBits.load(ordering: .acquiring)
            guard bits != 0 else { continue }
            checkBodyRate(thread, request: bits, limits: settings.limits, logger: logger, now: now)
            let elapsed = now - Double(bitPattern: bits)
            let reported = thread.reported.load(ordering: .relaxed)
            let slow = settings.slowLogSeconds > 0 && elapsed >= settings.slowLogSeconds && reported < 1
            let stuck = settings.requestTimeout > 0 && elapsed >= 2 * settings.requestTimeout && reported < 2
            guard slow || stuck, let handle = thread.handle.withLock({ $0 }) else { continue }
            thread.reported.store(stuck ? 2 : 1, ordering: .relaxed)
            let label = thread.routeLabel.load(ordering: .relaxed)
            let route = label >= 0 && label < labels.count ? "\(labels[label].method) \(labels[label].pattern)" : "unmatched"
            let stack = StackSampler.capture(handle, sample: thread.stack) ?? ["(the thread did not answer)"]
            // Still the same request? Otherwise the stack belongs to another one.
            guard thread.startedBits.load(ordering: .acquiring) == bits else { continue }
            let metadata: Logger.Metadata = [
                "request.id": "\(thread.clock.requestID)", "http.route": "\(route)",
                "duration_s": "\((elapsed * 1000).rounded() / 1000)", "backtrace": .array(stack.map { .string($0) }),
            ]
            if stuck {
                logger.error("request stuck past twice its deadline; recycling the worker", metadata: metadata)
                seat.map { $0.board.requestRecycle(slot: $0.slot, .stuckThread) }
            } else {
                logger.warning("slow request", metadata: metadata)
                seat?.board.countSlow()
            }
        }
    }

    /// Cuts a streamed body that brought fewer than `minimumBodyBytesPerSecond` over the last window
    /// (like Apache's mod_reqtimeout MinRate): its thread answers 408 and is free again.
    private static func checkBodyRate(_ thread: AcceptThread, request: UInt64, limits: TransportLimits, logger: Logger, now: Double) {
        guard limits.minimumBodyBytesPerSecond > 0, let slot = thread.current.withLock({ $0.slot }), let received = slot.streamedBodyReceived else {
            return
        }
        let tooSlow = thread.bodyWindow.withLock { window -> Bool in
            guard let current = window, current.request == request else {
                window = (now, received, request)
                return false
            }
            guard now - current.start >= limits.bodyRateWindowSeconds else { return false }
            let rate = Double(received - current.bytes) / (now - current.start)
            window = (now, received, request)
            return rate < Double(limits.minimumBodyBytesPerSecond)
        }
        guard tooSlow else { return }
        slot.cutStreamedBody()
        logger.warning(
            "request body too slow; cut",
            metadata: [
                "request.id": "\(thread.clock.requestID)", "body.received_bytes": "\(received)",
                "body.minimum_bytes_per_second": "\(limits.minimumBodyBytesPerSecond)",
                "body.window_s": "\(limits.bodyRateWindowSeconds)",
            ])
    }

    /// Whether bytes wait on `fd`: a request that nginx sent on a kept connection. Not when nginx closed it,
    /// nor when libfcgi already closed the fd (the slot's mirror still names it while its thread waits in
    /// accept() for the next connection).
    private static func hasPendingInput(_ fd: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 0) > 0 else { return false }
        return descriptor.revents & Int16(POLLNVAL) == 0 && descriptor.revents & Int16(POLLIN) != 0
    }

    private static func checkMemory(settings: WorkerSettings, seat: ScoreboardSeat, logger: Logger) {
        guard let memory = ProcessMemory.read() else { return }
        seat.board.setAnonymousBytes(slot: seat.slot, memory.anonymousBytes)
        guard settings.maximumAnonymousBytes > 0, memory.anonymousBytes > settings.maximumAnonymousBytes,
            seat.board.recycleReason(slot: seat.slot) == nil
        else { return }
        logger.info(
            "worker over its memory limit; asking to be recycled",
            metadata: ["worker.anonymous_bytes": "\(memory.anonymousBytes)", "worker.limit_bytes": "\(settings.maximumAnonymousBytes)"])
        seat.board.requestRecycle(slot: seat.slot, .memory)
    }
}
