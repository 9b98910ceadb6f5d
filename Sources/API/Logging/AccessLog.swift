import Domain
import Essentials
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// The access log: one JSON line per request, in the same shape as the other
/// log lines (`ts`, `level`, `msg`, `logger`, then fields).
///
/// Formatted straight into bytes. Lines are held per accept thread and written
/// together, at most `PIPE_BUF` bytes per `write(2)` so that a batch is never
/// torn by another thread's or process's write to the same pipe: a `write` per
/// request was a tenth of a stats request's cost. In a pool's worker the batches
/// go straight to the master's log destination: relaying them through the
/// master, which reads and checks every line, cost 4% of the pool's CPU.
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
        func writeOut(to fd: Int32) {
            _ = bytes.withUnsafeBytes { Bytes.writeAll($0, to: fd) }
            bytes.removeAll(keepingCapacity: true)
        }
    }

    private let pid: Int32
    private let fd: Int32
    /// 0 writes each line at once.
    private let flushInterval: Double
    private let key: pthread_key_t
    private let batches = Locked<[Batch]>([])

    /// Batches go to `fd`; a line longer than `PIPE_BUF`, which only a write of its own keeps whole, goes to
    /// stderr (in a worker, the master's relay, which passes long lines on whole).
    init(pid: Int32, flushInterval: Double, fd: Int32) {
        self.pid = pid
        self.fd = fd
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
        var line = JSONLogHandler.lineHead(fixed: #"","level":"info","msg":"request","logger":"ftapi.access""#)
        Bytes.appendLiteral(#","request.id":"#, to: &line)
        JSONValue.writeString(requestID, to: &line)
        Bytes.appendLiteral(#","http.method":"#, to: &line)
        JSONValue.writeString(method, to: &line)
        Bytes.appendLiteral(#","http.path":"#, to: &line)
        JSONValue.writeString(path, to: &line)
        Bytes.appendLiteral(#","http.status":"#, to: &line)
        JSONValue.writeInteger(Int64(status), to: &line)
        Bytes.appendLiteral(#","duration_ms":"#, to: &line)
        JSONValue.writeHundredths(Int64((durationSeconds * 100_000).rounded()), to: &line)
        if let principal {
            Bytes.appendLiteral(#","user.id":"#, to: &line)
            JSONValue.writeString(principal.userID, to: &line)
            if case .apiKey(let id, _) = principal.credential {
                Bytes.appendLiteral(#","key.id":"#, to: &line)
                JSONValue.writeString(id, to: &line)
            }
        }
        Bytes.appendLiteral(#","worker.pid":"#, to: &line)
        JSONValue.writeInteger(Int64(pid), to: &line)
        Bytes.appendLiteral("}\n", to: &line)
        guard line.count <= Int(PIPE_BUF) else {
            _ = line.withUnsafeBytes { Bytes.writeAll($0, to: 2) }
            return
        }
        guard flushInterval > 0 else {
            _ = line.withUnsafeBytes { Bytes.writeAll($0, to: fd) }
            return
        }
        let batch = threadBatch()
        let now = Clocks.monotonicSeconds()
        batch.lock.withLock {
            if batch.bytes.count + line.count > Int(PIPE_BUF) { batch.writeOut(to: fd) }
            if batch.bytes.isEmpty { batch.firstLineAt = now }
            batch.bytes.append(contentsOf: line)
            if now - batch.firstLineAt >= flushInterval { batch.writeOut(to: fd) }
        }
    }

    /// Writes every batch whose oldest line is `flushInterval` old: lines of threads that have gone quiet.
    func flushIdle() {
        let now = Clocks.monotonicSeconds()
        for batch in batches.withLock({ $0 }) {
            batch.lock.withLock {
                if !batch.bytes.isEmpty && now - batch.firstLineAt >= flushInterval { batch.writeOut(to: fd) }
            }
        }
    }

    /// Writes every pending line (at the worker's stop).
    func flushAll() {
        for batch in batches.withLock({ $0 }) {
            batch.lock.withLock { batch.writeOut(to: fd) }
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
