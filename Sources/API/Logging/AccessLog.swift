import Essentials
import JSON
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// The access log: one JSON line per request on stderr, in the same shape
/// as the other log lines (`ts`, `level`, `msg`, `logger`, then fields).
///
/// Formatted straight into bytes. Lines are held per accept thread and written
/// together, at most `PIPE_BUF` bytes per `write(2)` so that a batch is never
/// torn by another thread's write to the same pipe: a `write` per request, and
/// the master's read and write of it, were a tenth of a stats request's cost.
/// A batch goes out when the next line would not fit, when its first line is
/// `flushInterval` old (at the next request, or the next `flushIdle()`), and
/// at the worker's stop. A worker that crashes loses at most that much of its log.
final class AccessLog: Sendable {
    /// One accept thread's pending lines.
    private final class Batch: @unchecked Sendable {
        // @unchecked: `bytes` and `firstLineAt` are only touched under `lock`.
        let lock = Lock()
        var bytes: [UInt8] = []
        /// Monotonic seconds at which the oldest pending line was added.
        var firstLineAt = 0.0

        init() { bytes.reserveCapacity(Int(PIPE_BUF)) }

        /// Writes the pending lines; with `lock` held.
        func writeOut() {
            bytes.withUnsafeBytes { Bytes.writeAll($0, to: 2) }
            bytes.removeAll(keepingCapacity: true)
        }
    }

    private let pid: Int32
    /// 0 writes each line at once.
    private let flushInterval: Double
    private let key: pthread_key_t
    private let batches = Locked<[Batch]>([])

    init(pid: Int32, flushInterval: Double) {
        self.pid = pid
        self.flushInterval = flushInterval
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        self.key = key
    }

    deinit {
        flushAll()
        pthread_key_delete(key)
    }

    func record(
        requestID: String, method: String, path: String, status: Int, durationSeconds: Double, principal: Principal?
    ) {
        var line = JSONLogHandler.lineHead(level: "info", message: "request", logger: "ftapi.access")
        line.append(contentsOf: #","request.id":"#.utf8)
        JSONValue.writeString(requestID, to: &line)
        line.append(contentsOf: #","http.method":"#.utf8)
        JSONValue.writeString(method, to: &line)
        line.append(contentsOf: #","http.path":"#.utf8)
        JSONValue.writeString(path, to: &line)
        line.append(contentsOf: #","http.status":"#.utf8)
        JSONValue.writeInteger(Int64(status), to: &line)
        line.append(contentsOf: #","duration_ms":"#.utf8)
        JSONValue.double((durationSeconds * 100_000).rounded() / 100).write(to: &line)
        if let principal {
            line.append(contentsOf: #","user.id":"#.utf8)
            JSONValue.writeString(principal.userID, to: &line)
            if case .apiKey(let id, _) = principal.credential {
                line.append(contentsOf: #","key.id":"#.utf8)
                JSONValue.writeString(id, to: &line)
            }
        }
        line.append(contentsOf: #","worker.pid":"#.utf8)
        JSONValue.writeInteger(Int64(pid), to: &line)
        line.append(contentsOf: "}\n".utf8)
        guard flushInterval > 0, line.count <= Int(PIPE_BUF) else {
            line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
            return
        }
        let batch = threadBatch()
        let now = Clocks.monotonicSeconds()
        batch.lock.withLock {
            if batch.bytes.count + line.count > Int(PIPE_BUF) { batch.writeOut() }
            if batch.bytes.isEmpty { batch.firstLineAt = now }
            batch.bytes.append(contentsOf: line)
            if now - batch.firstLineAt >= flushInterval { batch.writeOut() }
        }
    }

    /// Writes every batch whose oldest line is `flushInterval` old: lines of threads that have gone quiet.
    func flushIdle() {
        let now = Clocks.monotonicSeconds()
        for batch in batches.withLock({ $0 }) {
            batch.lock.withLock {
                if !batch.bytes.isEmpty && now - batch.firstLineAt >= flushInterval { batch.writeOut() }
            }
        }
    }

    /// Writes every pending line (at the worker's stop).
    func flushAll() {
        for batch in batches.withLock({ $0 }) {
            batch.lock.withLock { batch.writeOut() }
        }
    }

    private func threadBatch() -> Batch {
        if let raw = pthread_getspecific(key) { return Unmanaged<Batch>.fromOpaque(raw).takeUnretainedValue() }
        let batch = Batch()
        // `batches` keeps it alive for the key's unretained reference.
        batches.withLock { $0.append(batch) }
        pthread_setspecific(key, Unmanaged.passUnretained(batch).toOpaque())
        return batch
    }
}
