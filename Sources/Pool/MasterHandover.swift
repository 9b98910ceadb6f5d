import Essentials

#if canImport(Glibc)
import Glibc
#endif

/// What a master hands to the binary it re-executes on SIGHUP: its open fds (the listening socket, the
/// two shared-memory regions, the status listener) and its worker processes, which stay its children
/// because the pid does not change. Carried in the environment across `execv`.
public struct MasterHandover: Sendable, Equatable {
    /// A worker process of the old image: its pid, scoreboard slot, position in the pool, and whether it was
    /// already being replaced (then the new image only waits for it to exit).
    public struct Worker: Sendable, Equatable {
        public var pid: Int32
        public var slot: Int
        public var position: Int
        public var retiring: Bool
        /// The read end of its stderr pipe (the master relays its output), -1 when none.
        public var outputFD: Int32 = -1
    }

    public var listenFD: Int32
    public var ownsListener: Bool
    public var rateLimitFD: Int32
    public var scoreboardFD: Int32
    public var statusFD: Int32?
    public var workers: [Worker]

    static let variable = "FTAPI_HANDOVER"

    /// The handover this process was started with, if it is a re-executed master; removes it from the environment.
    public static func take() -> MasterHandover? {
        guard let text = getenv(variable).map({ String(cString: $0) }) else { return nil }
        unsetenv(variable)
        return MasterHandover(parsing: text)
    }

    /// `listen=101;owns=1;ratelimit=102;scoreboard=103;status=104;workers=pid:slot:position:retiring:outputfd,...`
    var encoded: String {
        var parts = ["listen=\(listenFD)", "owns=\(ownsListener ? 1 : 0)", "ratelimit=\(rateLimitFD)", "scoreboard=\(scoreboardFD)"]
        if let statusFD { parts.append("status=\(statusFD)") }
        parts.append("workers=" + workers.map { "\($0.pid):\($0.slot):\($0.position):\($0.retiring ? 1 : 0):\($0.outputFD)" }.joined(separator: ","))
        return parts.joined(separator: ";")
    }

    init(listenFD: Int32, ownsListener: Bool, rateLimitFD: Int32, scoreboardFD: Int32, statusFD: Int32?, workers: [Worker]) {
        self.listenFD = listenFD
        self.ownsListener = ownsListener
        self.rateLimitFD = rateLimitFD
        self.scoreboardFD = scoreboardFD
        self.statusFD = statusFD
        self.workers = workers
    }

    init?(parsing text: String) {
        var fields: [String: String] = [:]
        for part in text.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let listen = fields["listen"].flatMap({ Int32($0) }), let rateLimit = fields["ratelimit"].flatMap({ Int32($0) }),
            let scoreboard = fields["scoreboard"].flatMap({ Int32($0) })
        else { return nil }
        var workers: [Worker] = []
        for item in (fields["workers"] ?? "").split(separator: ",") {
            let numbers = item.split(separator: ":").compactMap { Int($0) }
            guard numbers.count == 5 else { return nil }
            workers.append(
                Worker(pid: Int32(numbers[0]), slot: numbers[1], position: numbers[2], retiring: numbers[3] == 1, outputFD: Int32(numbers[4])))
        }
        self.init(
            listenFD: listen, ownsListener: fields["owns"] == "1", rateLimitFD: rateLimit, scoreboardFD: scoreboard,
            statusFD: fields["status"].flatMap { Int32($0) }, workers: workers)
    }
}
