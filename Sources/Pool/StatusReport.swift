import Essentials
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// What the status listener knows beyond the scoreboard: fixed for the master's life.
public struct PoolDescription: Sendable {
    public var version: String
    public var workersConfigured: Int
    public var threadsPerWorker: Int

    public init(version: String, workersConfigured: Int, threadsPerWorker: Int) {
        self.version = version
        self.workersConfigured = workersConfigured
        self.threadsPerWorker = threadsPerWorker
    }
}

/// The two documents of the status listener, rendered from the scoreboard.
enum StatusReport {
    /// `GET /status`: the pool, its request counters, its restarts and every worker process.
    static func statusJSON(_ board: Scoreboard, pool: PoolDescription) -> String {
        let workers = board.workers()
        let active = workers.reduce(0) { $0 + $1.active }
        var text = "{\"pool\":{"
        text += "\"master_pid\":\(board.load(.masterPID)),\"generation\":\(board.generation),\"version\":\(quoted(pool.version)),"
        text += "\"started_at\":\(quoted(isoTime(milliseconds: board.load(.startedAtMilliseconds)))),\"state\":\"\(board.state.name)\","
        text += "\"workers_configured\":\(pool.workersConfigured),\"threads_per_worker\":\(pool.threadsPerWorker)},"
        text += "\"requests\":{\"accepted\":\(board.load(.accepted)),\"active\":\(active),"
        text += "\"slow\":\(board.load(.slow)),\"timed_out\":\(board.load(.timedOut))},"
        text += "\"restarts\":{\"crashed\":\(board.load(.crashed)),\"recycled\":\(board.load(.recycled)),\"reloaded\":\(board.load(.reloaded))},"
        text += "\"workers\":["
        for (index, worker) in workers.enumerated() {
            let memory = ProcessMemory.read(pid: worker.pid)
            if index > 0 { text += "," }
            text += "{\"pid\":\(worker.pid),\"generation\":\(worker.generation),"
            text += "\"started_at\":\(quoted(isoTime(milliseconds: worker.startedAtMilliseconds))),"
            text += "\"requests\":\(worker.requests),\"active\":\(worker.active),\"connections\":\(worker.connections),"
            text += "\"rss_bytes\":\(memory?.residentBytes ?? 0),\"anonymous_bytes\":\(memory?.anonymousBytes ?? 0),"
            text += "\"state\":\"\(worker.state)\"}"
        }
        text += "]}\n"
        return text
    }

    /// `GET /metrics`: Prometheus text format 0.0.4.
    static func metrics(_ board: Scoreboard) -> String {
        let labels = board.routeLabels()
        func routeName(_ label: Int) -> String { labels[label]?.pattern ?? "unmatched" }
        var text = ""
        text += "# HELP ftapi_http_requests_total Requests answered, by method, route pattern and status.\n"
        text += "# TYPE ftapi_http_requests_total counter\n"
        for label in 0..<Scoreboard.routeLabelCount {
            for method in 0..<Scoreboard.methods.count {
                for statusSlot in 0...Scoreboard.statuses.count {
                    let count = board.requestCount(label: label, method: method, statusSlot: statusSlot)
                    guard count > 0 else { continue }
                    let status = statusSlot < Scoreboard.statuses.count ? String(Scoreboard.statuses[statusSlot]) : "other"
                    text += "ftapi_http_requests_total{method=\"\(Scoreboard.methods[method])\",route=\"\(escaped(routeName(label)))\","
                    text += "status=\"\(status)\"} \(count)\n"
                }
            }
        }
        text += "# HELP ftapi_http_request_duration_seconds Time from accepting a request to its last byte handed to nginx.\n"
        text += "# TYPE ftapi_http_request_duration_seconds histogram\n"
        for label in 0..<Scoreboard.routeLabelCount {
            let histogram = board.durationHistogram(label: label)
            guard histogram.buckets.contains(where: { $0 > 0 }) else { continue }
            text += histogramLines("ftapi_http_request_duration_seconds", labels: "route=\"\(escaped(routeName(label)))\"", histogram)
        }
        text += "# HELP ftapi_http_request_database_seconds Time each request spent in database statements.\n"
        text += "# TYPE ftapi_http_request_database_seconds histogram\n"
        text += histogramLines("ftapi_http_request_database_seconds", labels: nil, board.databaseHistogram())
        let workers = board.workers()
        text += "# HELP ftapi_pool_workers Worker processes, by state.\n# TYPE ftapi_pool_workers gauge\n"
        for state in ["starting", "serving", "draining"] {
            text += "ftapi_pool_workers{state=\"\(state)\"} \(workers.filter { $0.state == state }.count)\n"
        }
        text += "# HELP ftapi_pool_threads_busy Accept threads inside a request.\n# TYPE ftapi_pool_threads_busy gauge\n"
        text += "ftapi_pool_threads_busy \(workers.reduce(0) { $0 + $1.active })\n"
        text += "# HELP ftapi_pool_connections nginx connections the workers hold open (event dispatch).\n"
        text += "# TYPE ftapi_pool_connections gauge\nftapi_pool_connections \(workers.reduce(0) { $0 + $1.connections })\n"
        text += "# HELP ftapi_worker_restarts_total Worker processes that ended, by reason.\n# TYPE ftapi_worker_restarts_total counter\n"
        text += "ftapi_worker_restarts_total{reason=\"crash\"} \(board.load(.crashed))\n"
        text += "ftapi_worker_restarts_total{reason=\"recycle\"} \(board.load(.recycled))\n"
        text += "ftapi_worker_restarts_total{reason=\"reload\"} \(board.load(.reloaded))\n"
        text += "# HELP ftapi_rate_limited_total Requests refused by the API-key rate limit (429).\n"
        text += "# TYPE ftapi_rate_limited_total counter\nftapi_rate_limited_total \(board.load(.rateLimited))\n"
        text += "# HELP ftapi_requests_slow_total Requests the slow log reported.\n"
        text += "# TYPE ftapi_requests_slow_total counter\nftapi_requests_slow_total \(board.load(.slow))\n"
        text += "# HELP ftapi_requests_timed_out_total Requests answered 504 at their deadline.\n"
        text += "# TYPE ftapi_requests_timed_out_total counter\nftapi_requests_timed_out_total \(board.load(.timedOut))\n"
        text += "# HELP ftapi_pool_generation Reloads since the master first started, plus one.\n"
        text += "# TYPE ftapi_pool_generation gauge\nftapi_pool_generation \(board.generation)\n"
        return text
    }

    private static func histogramLines(_ name: String, labels: String?, _ histogram: (buckets: [Int64], sumSeconds: Double)) -> String {
        let prefix = labels.map { "\($0)," } ?? ""
        var text = ""
        var cumulative: Int64 = 0
        for (index, count) in histogram.buckets.enumerated() {
            cumulative += count
            let bound = index < Scoreboard.durationBuckets.count ? "\(Scoreboard.durationBuckets[index])" : "+Inf"
            text += "\(name)_bucket{\(prefix)le=\"\(bound)\"} \(cumulative)\n"
        }
        let braces = labels.map { "{\($0)}" } ?? ""
        text += "\(name)_sum\(braces) \(histogram.sumSeconds)\n\(name)_count\(braces) \(cumulative)\n"
        return text
    }

    /// A label value with `\`, `"` and newlines escaped, as the text format asks.
    private static func escaped(_ value: String) -> String {
        var text = ""
        for character in value {
            switch character {
            case "\\": text += "\\\\"
            case "\"": text += "\\\""
            case "\n": text += "\\n"
            default: text.append(character)
            }
        }
        return text
    }

    /// `value` as a JSON string literal.
    private static func quoted(_ value: String) -> String {
        var bytes: [UInt8] = []
        JSONValue.writeString(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `2026-12-01T02:29:43.123Z`.
    static func isoTime(milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = Int(milliseconds % 1000)
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):"
            + "\(two(parts.tm_sec)).\(fraction)Z"
    }
}

/// A process's memory as `/proc/PID/status` reports it.
public struct ProcessMemory: Sendable {
    /// `VmRSS`: every resident page, file pages that a memory map shares with the page cache included.
    public var residentBytes: Int
    /// `RssAnon`: the process's own memory (heap, stacks), what recycling watches.
    public var anonymousBytes: Int

    /// Reads `pid`'s figures (0 for this process); nil when it is gone.
    public static func read(pid: Int32 = 0) -> ProcessMemory? {
        let path = pid == 0 ? "/proc/self/status" : "/proc/\(pid)/status"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        var memory = ProcessMemory(residentBytes: 0, anonymousBytes: 0)
        for line in buffer[..<count].split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line, as: UTF8.self)
            let kibibytes = Int(text.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
            if text.hasPrefix("VmRSS:") { memory.residentBytes = kibibytes * 1024 }
            if text.hasPrefix("RssAnon:") { memory.anonymousBytes = kibibytes * 1024 }
        }
        return memory
    }
}
