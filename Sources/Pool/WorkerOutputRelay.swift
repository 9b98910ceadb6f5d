import Essentials
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// Carries every worker's stderr into the master's, line by line, so that the log stays one JSON object per
/// line: a worker's own log lines (JSON already) pass through whole, anything else (the Swift runtime's crash
/// report, a library's message) becomes a `worker output` line with the worker's pid. Each worker writes to a
/// pipe of its own, so lines of two processes never interleave; complete lines are written on with one
/// `write`, so they don't interleave with the master's own either.
final class WorkerOutputRelay: @unchecked Sendable {
    // @unchecked: `pipes` is only touched with `lock` held; the buffers belong to the relay thread.
    private struct Pipe {
        var pid: pid_t
        var pending: [UInt8] = []
    }

    private let lock = Lock()
    private var pipes: [Int32: Pipe] = [:]
    private static let longestLine = 64 << 10

    init() {}

    /// Starts the relay thread.
    func start() throws {
        try Threads.detach { [self] in run() }
    }

    /// Relays `fd` (the read end of a worker's stderr pipe) from now on; the relay closes it at end of file.
    func add(_ fd: Int32, pid: pid_t) {
        lock.withLock { pipes[fd] = Pipe(pid: pid) }
    }

    /// Every relayed fd and its worker's pid, for a reload's handover.
    var relayed: [(fd: Int32, pid: pid_t)] { lock.withLock { pipes.map { ($0.key, $0.value.pid) } } }

    private func run() {
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            var descriptors = lock.withLock { pipes.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } }
            // Pipes added meanwhile are seen within 0.1 s.
            guard poll(&descriptors, nfds_t(descriptors.count), 100) > 0 else { continue }
            for descriptor in descriptors where descriptor.revents != 0 {
                let count = chunk.withUnsafeMutableBytes { read(descriptor.fd, $0.baseAddress, $0.count) }
                if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if count <= 0 {
                    finish(descriptor.fd)
                    continue
                }
                relay(chunk[..<count], from: descriptor.fd)
            }
        }
    }

    private func relay(_ bytes: ArraySlice<UInt8>, from fd: Int32) {
        guard var pipe = lock.withLock({ pipes[fd] }) else { return }
        pipe.pending.append(contentsOf: bytes)
        var output: [UInt8] = []
        var start = pipe.pending.startIndex
        while let newline = pipe.pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            append(pipe.pending[start..<newline], pid: pipe.pid, to: &output)
            start = newline + 1
        }
        pipe.pending.removeSubrange(..<start)
        if pipe.pending.count > Self.longestLine {
            append(pipe.pending[...], pid: pipe.pid, to: &output)
            pipe.pending.removeAll()
        }
        write(output)
        lock.withLock { pipes[fd]?.pending = pipe.pending }
    }

    private func finish(_ fd: Int32) {
        guard let pipe = lock.withLock({ pipes.removeValue(forKey: fd) }) else { return }
        close(fd)
        var output: [UInt8] = []
        if !pipe.pending.isEmpty { append(pipe.pending[...], pid: pipe.pid, to: &output) }
        write(output)
    }

    /// One line: as it is when it is a JSON object, else wrapped in one.
    private func append(_ line: ArraySlice<UInt8>, pid: pid_t, to output: inout [UInt8]) {
        if line.first == UInt8(ascii: "{") && line.last == UInt8(ascii: "}") {
            output.append(contentsOf: line)
            output.append(UInt8(ascii: "\n"))
            return
        }
        guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) else { return }
        output.append(contentsOf: #"{"ts":"#.utf8)
        JSONValue.writeString(Self.timestamp(), to: &output)
        output.append(contentsOf: #","level":"error","msg":"worker output","logger":"ftapi","worker.pid":"#.utf8)
        output.append(contentsOf: String(pid).utf8)
        output.append(contentsOf: #","line":"#.utf8)
        JSONValue.writeString(String(decoding: line, as: UTF8.self), to: &output)
        output.append(contentsOf: "}\n".utf8)
    }

    private func write(_ output: [UInt8]) {
        _ = output.withUnsafeBytes { Bytes.writeAll($0, to: 2) }
    }

    /// `2026-12-01T03:04:05Z`, as the log handler writes `ts`.
    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
