import Essentials
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// accept4 is a GNU extension that the Glibc module does not declare. Atomic close-on-exec matters here: a
/// connection accepted just before a reload's exec must close with it, not leak into the new image unanswered.
@_silgen_name("accept4")
private func accept4(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: UnsafeMutablePointer<socklen_t>?, _ flags: Int32)
    -> Int32

/// The master's plain-HTTP status listener (`FTAPI_STATUS_LISTEN`): `GET /status` (JSON) and `GET /metrics`
/// (Prometheus text). It reads the scoreboard only, so it answers while every worker thread is busy or
/// the workers are restarting. Each connection gets one request and a thread of its own, with a few
/// seconds to send it; past `maximumConnections` at once, new ones are closed unanswered.
public final class StatusServer: Sendable {
    private let listenFD: Int32
    private let board: Scoreboard
    private let pool: PoolDescription
    /// Metrics the pool does not keep itself (the store's), appended to `/metrics` at each request.
    private let moreMetrics: @Sendable () -> String
    private let open = Atomic<Int>(0)
    private static let maximumConnections = 16
    private static let maximumRequestBytes = 8192

    public init(listenFD: Int32, board: Scoreboard, pool: PoolDescription, moreMetrics: @escaping @Sendable () -> String = { "" }) {
        self.listenFD = listenFD
        self.board = board
        self.pool = pool
        self.moreMetrics = moreMetrics
    }

    /// Serves on a thread of its own for the rest of the process's life.
    public func start() throws {
        try Threads.detach { [self] in
            while true {
                let connection = accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
                guard connection >= 0 else {
                    if errno == EBADF || errno == EINVAL { return }
                    Clocks.sleep(seconds: 0.01)
                    continue
                }
                guard open.wrappingAdd(1, ordering: .relaxed).newValue <= Self.maximumConnections,
                    (try? Threads.detach({ [self] in serve(connection) })) != nil
                else {
                    open.wrappingAdd(-1, ordering: .relaxed)
                    close(connection)
                    continue
                }
            }
        }
    }

    private func serve(_ connection: Int32) {
        defer {
            close(connection)
            open.wrappingAdd(-1, ordering: .relaxed)
        }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let head = readHead(connection) else { return }
        let requestLine = head.prefix { $0 != "\r" && $0 != "\n" }.split(separator: " ")
        guard requestLine.count >= 2 else {
            return write(connection, status: "400 Bad Request", type: "application/json", body: #"{"error":"Bad request"}"#)
        }
        let method = requestLine[0]
        let path = requestLine[1].prefix { $0 != "?" }
        guard path == "/status" || path == "/metrics" else {
            return write(connection, status: "404 Not Found", type: "application/json", body: #"{"error":"Not found","code":"NOT_FOUND"}"#)
        }
        guard method == "GET" || method == "HEAD" else {
            return write(
                connection, status: "405 Method Not Allowed", type: "application/json", body: #"{"error":"Method not allowed"}"#,
                extraHeaders: "Allow: GET, HEAD\r\n")
        }
        let body =
            path == "/status" ? StatusReport.statusJSON(board, pool: pool) : StatusReport.metrics(board) + moreMetrics()
        let type = path == "/status" ? "application/json" : "text/plain; version=0.0.4; charset=utf-8"
        write(connection, status: "200 OK", type: type, body: body, headOnly: method == "HEAD")
    }

    private func readHead(_ connection: Int32) -> String? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while bytes.count < Self.maximumRequestBytes {
            guard let count = try? retryingOnInterrupt("recv", { chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) } }),
                count > 0
            else { return nil }
            bytes += chunk[..<count]
            let text = String(decoding: bytes, as: UTF8.self)
            if text.contains("\r\n\r\n") || text.contains("\n\n") { return text }
        }
        return nil
    }

    private func write(_ connection: Int32, status: String, type: String, body: String, extraHeaders: String = "", headOnly: Bool = false) {
        let payload = Array(body.utf8)
        let head =
            "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(payload.count)\r\nCache-Control: no-store\r\n"
            + "Connection: close\r\n\(extraHeaders)\r\n"
        var bytes = Array(head.utf8)
        if !headOnly { bytes += payload }
        var sent = 0
        while sent < bytes.count {
            let sending = { bytes.withUnsafeBytes { send(connection, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) } }
            guard let count = try? retryingOnInterrupt("send", sending), count > 0 else { return }
            sent += count
        }
    }
}
