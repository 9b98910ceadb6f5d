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
    /// More abnormal worker deaths than this within `emergencyRestartInterval` is a crash storm.
    public var emergencyRestartThreshold: Int = 10
    public var emergencyRestartInterval: Double = 60
    /// During a crash storm, the least time between two worker starts, pool-wide.
    public var stormRestartSpacing: Double = 0.5

    public init(workers: Int, shutdownTimeout: Double) {
        self.workers = workers
        self.shutdownTimeout = shutdownTimeout
    }
}

/// The fds every worker finds open when it starts.
public enum WorkerFD {
    public static let listener: Int32 = 3
    public static let sharedMemory: Int32 = 4
    public static let scoreboard: Int32 = 5
    /// The master's stderr, where the worker writes log lines that are whole already (the access log's
    /// batches), so that they skip the relay; the worker's own stderr is the relay's pipe.
    public static let log: Int32 = 6

    /// Whether this process was given `fd` (a worker started by a master was; a worker run by hand may not be).
    public static func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) >= 0 }
}

/// The master process: owns the listening socket and the shared memory, starts W workers (this executable
/// again, with `workerArguments`), replaces those that die (with backoff, and pool-wide during a crash
/// storm) or ask to be recycled (the successor first, then the drain), re-executes itself on SIGHUP (a new
/// generation of workers serves before the old one drains), and drains every worker on SIGTERM/SIGINT.
public final class PoolMaster {
    private enum Role: Equatable {
        case serving
        /// A successor is starting; this one serves until the successor does.
        case replaced(RestartReason)
        /// Told to stop; its exit counts as `reason`.
        case draining(RestartReason)
    }

    private struct Process {
        var pid: pid_t
        var slot: Int
        var position: Int
        var startedAt: Double
        var role: Role
    }

    private struct Position {
        var failures = 0
        var restartAt: Double? = 0
    }

    private let listenFD: Int32
    private let ownsListener: Bool
    private let sharedMemoryFD: Int32
    private let scoreboardFD: Int32
    private let logFD: Int32
    private let statusFD: Int32?
    private let board: Scoreboard
    private let masterArguments: [String]
    private let settings: MasterSettings
    private let logger: Logger
    private var processes: [Process] = []
    private var positions: [Position]
    private var abnormalExits: [Double] = []
    private let output = WorkerOutputRelay()
    private var nextStormStart: Double = 0

    /// - Parameters:
    ///   - ownsListener: the master created the socket (not systemd): on stop it
    ///     shuts the socket down, so new connections are refused at once instead
    ///     of waiting in a backlog nobody will accept from.
    ///   - masterArguments: the master's argv (argv[0] first): a worker gets it with `--worker`; a reload runs it again.
    ///   - handover: the workers of the image this one replaced (SIGHUP); they are replaced by a new generation.
    public init(
        listenFD: Int32, ownsListener: Bool, sharedMemory: SharedMemory, scoreboard: SharedMemory, statusFD: Int32?,
        masterArguments: [String], settings: MasterSettings, logger: Logger, handover: MasterHandover? = nil
    ) throws {
        self.ownsListener = ownsListener
        // Keep private copies above the low fds so that dup2 onto 3, 4 and 5 in
        // the child always clears close-on-exec.
        self.listenFD = try Self.privateCopy(of: listenFD)
        self.sharedMemoryFD = try Self.privateCopy(of: sharedMemory.fd)
        self.scoreboardFD = try Self.privateCopy(of: scoreboard.fd)
        self.logFD = try Self.privateCopy(of: 2)
        self.statusFD = try statusFD.map { try Self.privateCopy(of: $0) }
        self.board = Scoreboard(region: scoreboard)
        self.masterArguments = masterArguments
        self.settings = settings
        self.logger = logger
        self.positions = Array(repeating: Position(), count: max(1, settings.workers))
        if let handover {
            board.beginGeneration()
            let now = Clocks.monotonicSeconds()
            for worker in handover.workers {
                if worker.outputFD >= 0 {
                    _ = fcntl(worker.outputFD, F_SETFD, FD_CLOEXEC)
                    output.add(worker.outputFD, pid: worker.pid)
                }
                processes.append(
                    Process(pid: worker.pid, slot: worker.slot, position: worker.position, startedAt: now, role: .replaced(.reload)))
            }
        }
    }

    private static func privateCopy(of fd: Int32) throws -> Int32 {
        try retryingOnInterrupt("fcntl(F_DUPFD_CLOEXEC)") { fcntl(fd, F_DUPFD_CLOEXEC, 100) }
    }

    private static let waitedSignals = [SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1]

    /// Blocks the signals the master waits for; call before starting any thread.
    public static func blockSignals() {
        var signals = Signals.set(waitedSignals)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// Runs until SIGTERM/SIGINT and the drain that follows; returns the exit status.
    public func run() -> Int32 {
        var signals = Signals.set(Self.waitedSignals)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        var pending = sigset_t()
        sigpending(&pending)
        if sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1 {
            logger.info("stop requested during start-up; no workers started")
            for process in processes { kill(process.pid, SIGTERM) }
            return 0
        }
        do {
            try output.start()
        } catch {
            logger.error("cannot start the worker output relay", metadata: ["error": "\(error)"])
        }
        board.state = processes.isEmpty ? .running : .reloading
        logger.info(
            "master started",
            metadata: ["pool.workers": "\(positions.count)", "pool.pid": "\(getpid())", "pool.generation": "\(board.generation)"])

        while true {
            supervise()
            var timeout = timespec(seconds: 0.1)
            let received = sigtimedwait(&signals, nil, &timeout)
            switch received {
            case SIGTERM, SIGINT:
                logger.info("master stopping", metadata: ["signal": "\(received)"])
                return stopWorkers()
            case SIGHUP:
                reload()
            default:
                reapWorkers(stopping: false)
            }
        }
    }

    // MARK: Supervision

    private func supervise() {
        reapWorkers(stopping: false)
        let now = Clocks.monotonicSeconds()
        for index in processes.indices where processes[index].role == .serving {
            guard let reason = board.recycleReason(slot: processes[index].slot) else { continue }
            processes[index].role = .replaced(.recycle)
            positions[processes[index].position].restartAt = now
            logger.info(
                "worker recycling: starting its successor", metadata: ["worker.pid": "\(processes[index].pid)", "worker.reason": "\(reason)"])
        }
        startDueWorkers(now: now)
        drainReplacedWorkers()
        endStormIfQuiet(now: now)
        if board.state == .reloading && !processes.contains(where: { $0.role == .replaced(.reload) || $0.role == .draining(.reload) }) {
            board.state = .running
            logger.info("reload complete", metadata: ["pool.generation": "\(board.generation)"])
        }
    }

    private func startDueWorkers(now: Double) {
        for position in positions.indices where !processes.contains(where: { $0.position == position && $0.role == .serving }) {
            guard let due = positions[position].restartAt, due <= now else { continue }
            if board.state == .degraded {
                // Spaced pool-wide, but never a pool without a single worker serving.
                let noneServing = !processes.contains { $0.role == .serving || $0.role == .replaced(.recycle) }
                guard now >= nextStormStart || noneServing else { continue }
                nextStormStart = now + settings.stormRestartSpacing
            }
            do {
                guard let slot = board.claimSlot(generation: board.generation) else {
                    throw SystemError("no free scoreboard slot", errno: ENOSPC)
                }
                let pid: pid_t
                do {
                    pid = try spawnWorker(slot: slot)
                } catch {
                    board.release(slot: slot)
                    throw error
                }
                board.assign(slot: slot, pid: pid)
                processes.append(Process(pid: pid, slot: slot, position: position, startedAt: now, role: .serving))
                positions[position].restartAt = nil
                logger.info(
                    "worker started",
                    metadata: ["worker.pid": "\(pid)", "worker.slot": "\(position)", "pool.generation": "\(board.generation)"])
            } catch {
                positions[position].failures += 1
                positions[position].restartAt = now + restartDelay(failures: positions[position].failures)
                logger.error("cannot start worker", metadata: ["error": "\(error)", "worker.slot": "\(position)"])
            }
        }
    }

    /// A replaced worker drains once the successor in its position serves (or its position is gone).
    private func drainReplacedWorkers() {
        for index in processes.indices {
            guard case .replaced(let reason) = processes[index].role else { continue }
            let position = processes[index].position
            let successorServes = processes.contains {
                $0.position == position && $0.role == .serving && board.workerState(slot: $0.slot) == .serving
            }
            guard successorServes || position >= positions.count else { continue }
            processes[index].role = .draining(reason)
            board.setState(slot: processes[index].slot, .draining)
            kill(processes[index].pid, SIGTERM)
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
            guard let index = processes.firstIndex(where: { $0.pid == pid }) else { continue }
            let process = processes.remove(at: index)
            // A worker that got as far as serving started fine: what killed it came later (most likely a request).
            let started = board.workerState(slot: process.slot) != .starting
            board.release(slot: process.slot)
            let now = Clocks.monotonicSeconds()
            let uptime = now - process.startedAt
            let exitCode = status & 0x7f == 0 ? (status >> 8) & 0xff : -1
            let abnormal = exitCode != 0
            var metadata: Logger.Metadata = [
                "worker.pid": "\(pid)", "worker.slot": "\(process.position)", "worker.uptime_s": "\(Int(uptime))",
            ]
            if exitCode >= 0 { metadata["worker.exit_code"] = "\(exitCode)" } else { metadata["worker.signal"] = "\(status & 0x7f)" }
            if stopping {
                logger.info("worker exited", metadata: metadata)
                continue
            }
            switch process.role {
            case .draining(let reason) where !abnormal:
                board.countRestart(reason)
                logger.info("worker exited after its drain", metadata: metadata.merging(["worker.reason": "\(reason)"]) { $1 })
                continue
            case .replaced, .draining:
                // Its successor is already there (or being started): nothing to restart.
                board.countRestart(.crash)
                noteAbnormalExit(now: now)
                logger.error("worker died while being replaced", metadata: metadata)
                continue
            case .serving:
                break
            }
            board.countRestart(.crash)
            if abnormal { noteAbnormalExit(now: now) }
            // A worker that was serving when it died was most likely killed by what it read: restart it at once,
            // so a flood of killing requests costs no more than the workers it kills. One that died before it
            // served (a start-up failure) backs off, doubling each time.
            if started || uptime >= settings.minimumHealthyUptime {
                positions[process.position].failures = 0
            } else {
                positions[process.position].failures += 1
            }
            let delay = restartDelay(failures: positions[process.position].failures)
            positions[process.position].restartAt = now + delay
            metadata["worker.restart_in_s"] = "\(delay)"
            logger.error("worker died; restarting", metadata: metadata)
        }
    }

    private func noteAbnormalExit(now: Double) {
        abnormalExits.append(now)
        abnormalExits.removeAll { now - $0 > settings.emergencyRestartInterval }
        guard abnormalExits.count > settings.emergencyRestartThreshold, board.state != .degraded, board.state != .stopping else { return }
        board.state = .degraded
        logger.critical(
            "crash storm: workers keep dying; restarts are now spaced pool-wide",
            metadata: [
                "pool.abnormal_exits": "\(abnormalExits.count)", "pool.interval_s": "\(settings.emergencyRestartInterval)",
                "pool.restart_spacing_s": "\(settings.stormRestartSpacing)",
            ])
    }

    private func endStormIfQuiet(now: Double) {
        guard board.state == .degraded else { return }
        abnormalExits.removeAll { now - $0 > settings.emergencyRestartInterval }
        guard abnormalExits.isEmpty else { return }
        board.state = .running
        logger.warning("crash storm over: no worker died abnormally for the whole interval")
    }

    // MARK: Reload

    /// Re-executes the binary at the master's path (a newly installed one is picked up), keeping the pid, the
    /// sockets, the shared memory and the workers, which the new image replaces with a new generation.
    private func reload() {
        guard !processes.contains(where: { $0.role == .replaced(.reload) || $0.role == .draining(.reload) }) else {
            logger.warning("SIGHUP ignored: the previous reload is still replacing workers")
            return
        }
        guard let binary = Self.executablePath() else {
            logger.error("cannot reload: the master's executable path is unknown")
            return
        }
        let handover = MasterHandover(
            listenFD: listenFD, ownsListener: ownsListener, rateLimitFD: sharedMemoryFD, scoreboardFD: scoreboardFD, statusFD: statusFD,
            workers: processes.map {
                MasterHandover.Worker(pid: $0.pid, slot: $0.slot, position: $0.position, retiring: $0.role != .serving)
            })
        if let refusal = checkSettings(of: binary) {
            logger.error("reload refused: the new binary does not accept its settings; the pool runs on", metadata: ["error": "\(refusal)"])
            return
        }
        let kept = [listenFD, sharedMemoryFD, scoreboardFD] + (statusFD.map { [$0] } ?? [])
        logger.info("reloading: re-executing the master", metadata: ["pool.binary": "\(binary)", "pool.generation": "\(board.generation)"])
        board.state = .reloading
        for fd in kept { _ = fcntl(fd, F_SETFD, 0) }
        setenv(MasterHandover.variable, handover.encoded, 1)
        let argv = masterArguments.map { strdup($0) } + [nil]
        execv(binary, argv)
        let error = errno
        for pointer in argv { free(pointer) }
        unsetenv(MasterHandover.variable)
        for fd in kept { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        board.state = .running
        logger.error("reload failed: cannot execute the binary", metadata: ["error": "\(SystemError("execv(\(binary))", errno: error))"])
    }

    /// Runs `binary` with the master's arguments and `--check-settings` (it reads the environment and
    /// `FTAPI_CONFIG` as the re-executed master would, then exits); nil when it accepts them.
    private func checkSettings(of binary: String) -> String? {
        let pid: pid_t
        do {
            pid = try Self.spawn(binary, arguments: masterArguments + ["--check-settings"], actions: nil)
        } catch {
            return "\(error)"
        }
        var status: Int32 = 0
        _ = try? retryingOnInterrupt("waitpid") { waitpid(pid, &status, 0) }
        return status == 0 ? nil : "exit status \(status >> 8) (its error is in the log above)"
    }

    /// The path this executable was started from; after the file was replaced, the path of its replacement.
    private static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let path = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let suffix = " (deleted)"
        return path.hasSuffix(suffix) ? String(path.dropLast(suffix.count)) : path
    }

    // MARK: Stop

    private func stopWorkers() -> Int32 {
        board.state = .stopping
        // Refuse new connections first; what is already queued is still
        // accepted by the draining workers.
        if ownsListener { shutdown(listenFD, Int32(SHUT_RD)) }
        for process in processes {
            board.setState(slot: process.slot, .draining)
            kill(process.pid, SIGTERM)
        }
        // Past the workers' own drain deadline, leave time for their last
        // usage flush (which may wait on SQLite's 5 s busy timeout).
        let deadline = Clocks.monotonicSeconds() + settings.shutdownTimeout + 8
        var childSignal = Signals.set([SIGCHLD])
        while !processes.isEmpty {
            reapWorkers(stopping: true)
            guard !processes.isEmpty else { break }
            let left = deadline - Clocks.monotonicSeconds()
            if left <= 0 {
                for process in processes {
                    logger.warning("worker did not stop in time; killing", metadata: ["worker.pid": "\(process.pid)"])
                    kill(process.pid, SIGKILL)
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

    private func spawnWorker(slot: Int) throws -> pid_t {
        // The worker's stderr is a pipe that the relay reads, so its crash report can't break the JSON log.
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SystemError("pipe(worker stderr)", errno: errno) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        var relayed = false
        defer {
            close(ends[1])
            if !relayed { close(ends[0]) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, ends[1], 2)
        posix_spawn_file_actions_adddup2(&actions, listenFD, WorkerFD.listener)
        posix_spawn_file_actions_adddup2(&actions, sharedMemoryFD, WorkerFD.sharedMemory)
        posix_spawn_file_actions_adddup2(&actions, scoreboardFD, WorkerFD.scoreboard)
        posix_spawn_file_actions_adddup2(&actions, logFD, WorkerFD.log)

        let pid = try Self.spawn("/proc/self/exe", arguments: masterArguments + ["--worker", "--worker-slot", "\(slot)"], actions: &actions)
        output.add(ends[0], pid: pid)
        relayed = true
        return pid
    }

    /// Starts `path` with `arguments` (argv[0] first), the master's environment and `actions`, with no signal
    /// blocked and the signals the master waits for back at their defaults.
    private static func spawn(_ path: String, arguments: [String], actions: UnsafePointer<posix_spawn_file_actions_t>?) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = Signals.set([])
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = Signals.set([SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2])
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, actions, &attributes, argv, environ)
        guard rc == 0 else { throw SystemError("posix_spawn(\(path))", errno: rc) }
        return pid
    }
}
