import Essentials
public import Logging

#if canImport(Glibc)
import Glibc
#endif

/// How the master runs its workers.
public struct MasterSettings: Sendable {
    public var workers: Int
    /// Seconds a worker gets to drain after SIGTERM; the master waits a little longer, then kills.
    public var shutdownTimeout: Double
    /// A worker that dies sooner than this after its start counts as a crash-loop failure.
    public var minimumHealthyUptime: Double = 10
    /// Longest wait before restarting a worker that keeps crashing.
    public var maximumRestartDelay: Double = 30

    public init(workers: Int, shutdownTimeout: Double) {
        self.workers = workers
        self.shutdownTimeout = shutdownTimeout
    }
}

/// The fds every worker finds open when it starts.
public enum WorkerFD {
    public static let listener: Int32 = 3
    public static let sharedMemory: Int32 = 4
}

/// The master process: owns the listening socket and the shared memory,
/// starts W workers (this executable again, with `workerArguments`),
/// restarts those that die (with backoff), and drains them on SIGTERM/SIGINT.
public final class PoolMaster {
    private struct WorkerSlot {
        var pid: pid_t = 0
        var startedAt: Double = 0
        var failures = 0
        var restartAt: Double? = 0
    }

    private let listenFD: Int32
    private let ownsListener: Bool
    private let sharedMemoryFD: Int32
    private let workerArguments: [String]
    private let settings: MasterSettings
    private let logger: Logger
    private var slots: [WorkerSlot]

    /// - Parameters:
    ///   - ownsListener: the master created the socket (not systemd): on stop it
    ///     shuts the socket down, so new connections are refused at once instead
    ///     of waiting in a backlog nobody will accept from.
    ///   - workerArguments: argv for a worker (argv[0] first); the executable is `/proc/self/exe`.
    public init(
        listenFD: Int32, ownsListener: Bool, sharedMemory: SharedMemory, workerArguments: [String], settings: MasterSettings,
        logger: Logger
    ) throws {
        self.ownsListener = ownsListener
        // Keep private copies above the low fds so that dup2 onto 3 and 4 in
        // the child always clears close-on-exec.
        self.listenFD = try retryingOnInterrupt("fcntl(F_DUPFD_CLOEXEC)") { fcntl(listenFD, F_DUPFD_CLOEXEC, 100) }
        self.sharedMemoryFD = try retryingOnInterrupt("fcntl(F_DUPFD_CLOEXEC)") { fcntl(sharedMemory.fd, F_DUPFD_CLOEXEC, 100) }
        self.workerArguments = workerArguments
        self.settings = settings
        self.logger = logger
        self.slots = Array(repeating: WorkerSlot(), count: max(1, settings.workers))
    }

    /// Blocks the signals the master waits for; call before starting any thread.
    public static func blockSignals() {
        var signals = Signals.set([SIGCHLD, SIGTERM, SIGINT, SIGHUP])
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// Runs until SIGTERM/SIGINT and the drain that follows; returns the exit status.
    public func run() -> Int32 {
        var signals = Signals.set([SIGCHLD, SIGTERM, SIGINT, SIGHUP])
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        var pending = sigset_t()
        sigpending(&pending)
        if sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1 {
            logger.info("stop requested during start-up; no workers started")
            return 0
        }
        logger.info("master started", metadata: ["pool.workers": "\(slots.count)", "pool.pid": "\(getpid())"])

        while true {
            startDueWorkers()
            let now = Clocks.monotonicSeconds()
            let nextRestart = slots.compactMap(\.restartAt).min()
            let wait = max(0.01, min(1.0, (nextRestart ?? now + 1) - now))
            var timeout = timespec(seconds: wait)
            let received = sigtimedwait(&signals, nil, &timeout)
            switch received {
            case SIGCHLD:
                reapWorkers(stopping: false)
            case SIGTERM, SIGINT:
                logger.info("master stopping", metadata: ["signal": "\(received)"])
                return stopWorkers()
            case SIGHUP:
                logger.info("SIGHUP ignored: restart the service to reload settings")
            default:
                reapWorkers(stopping: false)
            }
        }
    }

    private func startDueWorkers() {
        let now = Clocks.monotonicSeconds()
        for index in slots.indices {
            guard let due = slots[index].restartAt, due <= now else { continue }
            do {
                let pid = try spawnWorker()
                slots[index].pid = pid
                slots[index].startedAt = now
                slots[index].restartAt = nil
                logger.info("worker started", metadata: ["worker.pid": "\(pid)", "worker.slot": "\(index)"])
            } catch {
                slots[index].failures += 1
                slots[index].restartAt = now + restartDelay(failures: slots[index].failures)
                logger.error("cannot start worker", metadata: ["error": "\(error)", "worker.slot": "\(index)"])
            }
        }
    }

    private func restartDelay(failures: Int) -> Double {
        guard failures > 0 else { return 0 }
        return min(settings.maximumRestartDelay, 0.1 * Double(1 << min(failures - 1, 16)))
    }

    private func reapWorkers(stopping: Bool) {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            guard let index = slots.firstIndex(where: { $0.pid == pid }) else { continue }
            let now = Clocks.monotonicSeconds()
            let uptime = now - slots[index].startedAt
            let exitCode = status & 0x7f == 0 ? (status >> 8) & 0xff : -1
            let signal = status & 0x7f
            var metadata: Logger.Metadata = [
                "worker.pid": "\(pid)", "worker.slot": "\(index)",
                "worker.uptime_s": "\(Int(uptime))",
            ]
            if exitCode >= 0 { metadata["worker.exit_code"] = "\(exitCode)" } else { metadata["worker.signal"] = "\(signal)" }
            slots[index].pid = 0
            if stopping {
                logger.info("worker exited", metadata: metadata)
                continue
            }
            if uptime < settings.minimumHealthyUptime {
                slots[index].failures += 1
            } else {
                slots[index].failures = 0
            }
            let delay = restartDelay(failures: slots[index].failures)
            slots[index].restartAt = now + delay
            metadata["worker.restart_in_s"] = "\(delay)"
            logger.error("worker died; restarting", metadata: metadata)
        }
    }

    private func stopWorkers() -> Int32 {
        // Refuse new connections first; what is already queued is still
        // accepted by the draining workers.
        if ownsListener { shutdown(listenFD, Int32(SHUT_RD)) }
        for slot in slots where slot.pid > 0 { kill(slot.pid, SIGTERM) }
        // Past the workers' own drain deadline, leave time for their last
        // usage flush (which may wait on SQLite's 5 s busy timeout).
        let deadline = Clocks.monotonicSeconds() + settings.shutdownTimeout + 8
        var childSignal = Signals.set([SIGCHLD])
        while slots.contains(where: { $0.pid > 0 }) {
            reapWorkers(stopping: true)
            guard slots.contains(where: { $0.pid > 0 }) else { break }
            let left = deadline - Clocks.monotonicSeconds()
            if left <= 0 {
                for slot in slots where slot.pid > 0 {
                    logger.warning("worker did not stop in time; killing", metadata: ["worker.pid": "\(slot.pid)"])
                    kill(slot.pid, SIGKILL)
                }
                Clocks.sleep(seconds: 0.05)
                reapWorkers(stopping: true)
                break
            }
            var timeout = timespec(seconds: min(left, 0.2))
            _ = sigtimedwait(&childSignal, nil, &timeout)
        }
        logger.info("master stopped")
        return 0
    }

    private func spawnWorker() throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, listenFD, WorkerFD.listener)
        posix_spawn_file_actions_adddup2(&actions, sharedMemoryFD, WorkerFD.sharedMemory)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = Signals.set([])
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = Signals.set([SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2])
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = workerArguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv, environ)
        guard rc == 0 else { throw SystemError("posix_spawn(worker)", errno: rc) }
        return pid
    }
}
