import Essentials
public import FastCGITransport
public import HTTPCore
public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How one worker process serves.
public struct WorkerSettings: Sendable {
    /// Accept threads. With `fastcgi_keep_conn on`, libfcgi binds a thread to
    /// each kept nginx connection, so workers × threads must cover nginx's
    /// upstream connections (see the README).
    public var threads: Int
    public var limits: TransportLimits
    /// How long in-flight requests may run after SIGTERM before the worker exits anyway.
    public var drainTimeout: Double
    /// The master shuts the listening socket down when stopping: threads
    /// blocked in accept() then take what is still queued and get EINVAL
    /// once the queue is empty, so they are not interrupted (nothing queued is lost).
    public var listenerClosesOnStop: Bool
    /// The master's pid: a worker whose parent changes drains and exits.
    public var masterPID: Int32

    public init(threads: Int, limits: TransportLimits, drainTimeout: Double, listenerClosesOnStop: Bool, masterPID: Int32) {
        self.threads = threads
        self.limits = limits
        self.drainTimeout = drainTimeout
        self.listenerClosesOnStop = listenerClosesOnStop
        self.masterPID = masterPID
    }
}

/// One accept thread and what the supervisor needs to know about it.
private final class AcceptThread: Sendable {
    let slot: FastCGISlot
    /// True while a request is being handled; guarded so the supervisor never
    /// interrupts a thread in the middle of a request.
    let busy = Locked(false)
    let finished = Atomic<Bool>(false)
    let handle = Locked<pthread_t?>(nil)

    init(slot: FastCGISlot) { self.slot = slot }
}

private final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// A worker process: T threads, each looping on `FCGX_Accept_r`, and a
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
    public static func run<R: Responder>(listenFD: Int32, settings: WorkerSettings, responder: R, logger: Logger) -> Int32 {
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

        let stopping = StopFlag()
        var threads: [AcceptThread] = []
        for _ in 0..<max(1, settings.threads) {
            let thread = AcceptThread(slot: FastCGISlot(listenFD: listenFD, limits: settings.limits))
            threads.append(thread)
            do {
                let handle = try Threads.start { serve(thread, responder: responder, stopping: stopping) }
                thread.handle.withLock { $0 = handle }
            } catch {
                logger.critical("cannot start accept thread", metadata: ["error": "\(error)"])
                return 1
            }
        }
        logger.info("worker serving", metadata: ["worker.threads": "\(threads.count)"])

        while true {
            if getppid() != settings.masterPID {
                logger.warning("master is gone; worker draining", metadata: ["pool.master_pid": "\(settings.masterPID)"])
                break
            }
            var timeout = timespec(tv_sec: 1, tv_nsec: 0)
            let received = sigtimedwait(&stopSignals, nil, &timeout)
            if received == SIGTERM || received == SIGINT {
                logger.info("worker draining", metadata: ["signal": "\(received)"])
                break
            }
        }

        // Not FCGX_ShutdownPending: libfcgi then loops on the closed fd of a
        // connection whose first read was interrupted. The stop flag, plus
        // FAIL_ACCEPT_ON_INTR and SIGUSR2, end the loops instead.
        stopping.value.store(true, ordering: .sequentiallyConsistent)
        let started = Clocks.monotonicSeconds()
        let deadline = started + settings.drainTimeout
        while Clocks.monotonicSeconds() < deadline {
            var running = 0
            // Threads in accept() are left to drain the queue while the
            // master's shutdown makes accept() end; after a grace period (or
            // when the socket stays open) they are interrupted too.
            let interruptAccepting = !settings.listenerClosesOnStop || Clocks.monotonicSeconds() - started > 2
            for thread in threads where !thread.finished.load(ordering: .acquiring) {
                running += 1
                // Never a thread inside a request: only one idle on a kept
                // connection (no request yet) or, as above, in accept().
                thread.busy.withLock { busy in
                    guard !busy, interruptAccepting || thread.slot.connectionFD >= 0 else { return }
                    if let handle = thread.handle.withLock({ $0 }) { pthread_kill(handle, SIGUSR2) }
                }
            }
            if running == 0 { break }
            Clocks.sleep(seconds: 0.02)
        }
        let unfinished = threads.filter { !$0.finished.load(ordering: .acquiring) }.count
        if unfinished > 0 {
            logger.warning("drain deadline passed with requests in flight", metadata: ["worker.unfinished_threads": "\(unfinished)"])
        }
        responder.workerDidStop()
        logger.info("worker stopped")
        return 0
    }

    private static func serve<R: Responder>(_ thread: AcceptThread, responder: R, stopping: StopFlag) {
        defer { thread.finished.store(true, ordering: .releasing) }
        while !stopping.value.load(ordering: .acquiring) {
            guard thread.slot.accept() else {
                if stopping.value.load(ordering: .acquiring) { return }
                // A transient accept failure (EMFILE, ECONNABORTED...): don't spin.
                Clocks.sleep(seconds: 0.01)
                continue
            }
            thread.busy.withLock { $0 = true }
            var request = thread.slot.readHead()
            let (route, body) = responder.route(method: request.method, path: request.path)
            thread.slot.readBody(of: &request, as: body)
            let response = responder.respond(to: request, route: route)
            thread.slot.finish(with: response, closeConnection: stopping.value.load(ordering: .acquiring))
            thread.busy.withLock { $0 = false }
        }
    }
}
