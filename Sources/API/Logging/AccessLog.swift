import JSON
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// The access log: one JSON line per request on stderr, in the same shape
/// as the other log lines (`ts`, `level`, `msg`, `logger`, then fields).
/// Formatted straight into bytes and written with one `write(2)`, because it
/// runs on every request.
struct AccessLog: Sendable {
    let pid: Int32

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
        line.append(contentsOf: String(status).utf8)
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
        line.append(contentsOf: String(pid).utf8)
        line.append(contentsOf: "}\n".utf8)
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
