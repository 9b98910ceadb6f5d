import FastCGITransport

#if canImport(Glibc)
import Glibc
#endif

/// nginx's side of a FastCGI connection, written by hand for the transport's and the pool's unit tests: records
/// (BEGIN_REQUEST, PARAMS, STDIN) sent on one end of a socket, the responder's STDOUT and END_REQUEST read back.
public final class FastCGIPeer: @unchecked Sendable {
    // @unchecked: one test thread uses a peer at a time; `fd` is only closed by `close()`.
    public private(set) var fd: Int32

    public enum RecordType: UInt8 {
        case beginRequest = 1
        case endRequest = 3
        case params = 4
        case stdin = 5
        case stdout = 6
        case stderr = 7
        case getValues = 9
    }

    /// Takes `fd` (a connected stream socket), with send and receive timeouts so that a test never hangs on it.
    public init(fd: Int32, timeoutSeconds: Int = 10) {
        self.fd = fd
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    /// A connected pair of unix stream sockets: the responder's end, and the peer on the other.
    public static func socketPair() throws(FastCGIPeerError) -> (responderFD: Int32, peer: FastCGIPeer) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw .system("socketpair", errno)
        }
        return (fds[0], FastCGIPeer(fd: fds[1]))
    }

    /// A peer connected to the unix socket listening at `path`.
    public static func connect(toUnixSocket path: String) throws(FastCGIPeerError) -> FastCGIPeer {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        var address = unixAddress(path)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let error = errno
            Glibc.close(fd)
            throw .system("connect", error)
        }
        return FastCGIPeer(fd: fd)
    }

    /// A unix stream socket listening at `path` (which must not exist yet): the pool's listening socket, without nginx.
    public static func listen(onUnixSocket path: String) throws(FastCGIPeerError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        var address = unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            let error = errno
            Glibc.close(fd)
            throw .system("bind/listen \(path)", error)
        }
        return fd
    }

    private static func unixAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// Closes the peer's end: the responder then reads the end of the connection.
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    // MARK: Writing records

    /// One record of `type` for request `id`, its content padded to a multiple of 8 bytes as nginx pads it.
    public static func record(_ type: RecordType, id: UInt16 = 1, _ content: [UInt8] = []) -> [UInt8] {
        precondition(content.count <= 0xFFFF, "a record holds at most 65,535 bytes")
        let padding = (8 - content.count % 8) % 8
        return [1, type.rawValue, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF), UInt8(padding), 0]
            + content + [UInt8](repeating: 0, count: padding)
    }

    /// BEGIN_REQUEST for the responder role; with `keepConnection` (nginx's `fastcgi_keep_conn on`) the
    /// connection stays open after the request.
    public static func beginRequest(id: UInt16 = 1, keepConnection: Bool) -> [UInt8] {
        record(.beginRequest, id: id, [0, 1, keepConnection ? 1 : 0, 0, 0, 0, 0, 0])
    }

    /// A name-value pair as FastCGI encodes it: lengths of one byte below 128, else of four.
    public static func nameValue(_ name: [UInt8], _ value: [UInt8]) -> [UInt8] {
        func length(_ count: Int) -> [UInt8] {
            guard count >= 128 else { return [UInt8(count)] }
            return [UInt8(0x80 | (count >> 24)), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
        }
        return length(name.count) + length(value.count) + name + value
    }

    /// The params as PARAMS records of at most `recordBytes` each (a pair may straddle two), then the empty one that ends them.
    public static func params(_ pairs: [(String, String)], id: UInt16 = 1, recordBytes: Int = 0xFFFF) -> [UInt8] {
        let encoded = pairs.flatMap { nameValue(Array($0.0.utf8), Array($0.1.utf8)) }
        return chunked(encoded, .params, id: id, recordBytes: recordBytes) + record(.params, id: id)
    }

    /// `body` as STDIN records of at most `recordBytes` each, then (with `end`) the empty one that ends the body.
    public static func stdin(_ body: [UInt8], id: UInt16 = 1, end: Bool = true, recordBytes: Int = 0xFFFF) -> [UInt8] {
        chunked(body, .stdin, id: id, recordBytes: recordBytes) + (end ? record(.stdin, id: id) : [])
    }

    private static func chunked(_ bytes: [UInt8], _ type: RecordType, id: UInt16, recordBytes: Int) -> [UInt8] {
        stride(from: 0, to: bytes.count, by: recordBytes).flatMap { record(type, id: id, Array(bytes[$0..<min(bytes.count, $0 + recordBytes)])) }
    }

    /// A whole request, as nginx sends it: the CGI variables of `method` and `path` (plus `params`), then the body.
    public static func request(
        id: UInt16 = 1, keepConnection: Bool = true, method: String = "GET", path: String, query: String = "", params: [(String, String)] = [],
        body: [UInt8] = []
    ) -> [UInt8] {
        let cgi = [
            ("REQUEST_METHOD", method), ("DOCUMENT_URI", path), ("REQUEST_URI", query.isEmpty ? path : path + "?" + query), ("QUERY_STRING", query),
            ("CONTENT_LENGTH", body.isEmpty ? "" : String(body.count)), ("REMOTE_ADDR", "127.0.0.1"),
        ]
        return beginRequest(id: id, keepConnection: keepConnection) + Self.params(cgi + params, id: id) + stdin(body, id: id)
    }

    /// Writes all of `bytes`.
    public func send(_ bytes: [UInt8]) throws(FastCGIPeerError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw .system("send", errno) }
            offset += written
        }
    }

    // MARK: Reading the response

    /// Reads records up to the END_REQUEST of one request: its STDOUT bytes, parsed as the CGI-style response.
    public func readResponse() throws(FastCGIPeerError) -> FastCGIResponse {
        var stdout: [UInt8] = []
        while true {
            let header = try readExactly(8)
            guard header[0] == 1, let type = RecordType(rawValue: header[1]) else { throw .malformed("record header \(header)") }
            let id = UInt16(header[2]) << 8 | UInt16(header[3])
            let length = Int(header[4]) << 8 | Int(header[5])
            let content = try readExactly(length + Int(header[6])).prefix(length)
            switch type {
            case .stdout: stdout += content
            case .endRequest:
                guard content.count == 8 else { throw .malformed("END_REQUEST of \(content.count) bytes") }
                let bytes = Array(content)
                let appStatus = Int32(bitPattern: UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3]))
                return try FastCGIResponse(requestID: id, stdout: stdout, appStatus: appStatus, protocolStatus: bytes[4])
            default: continue
            }
        }
    }

    /// The bytes that came before the responder closed the connection, or nil when it did not close it within
    /// `timeoutSeconds`.
    public func readToEnd(timeoutSeconds: Double = 5) -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(timeoutSeconds * 1000)) == 1 else { return nil }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count == 0 { return bytes }
            if count < 0 { return nil }
            bytes += chunk[..<count]
        }
    }

    /// Whether the responder closed the connection: the next read finds its end (false if bytes, or nothing for `timeoutSeconds`).
    public func readsEnd(timeoutSeconds: Double = 5) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeoutSeconds * 1000)) == 1 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) == 0
    }

    private func readExactly(_ count: Int) throws(FastCGIPeerError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes[filled...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw errno == EAGAIN || errno == EWOULDBLOCK ? .timedOut : .system("recv", errno) }
            if n == 0 { throw .closed }
            filled += n
        }
        return bytes
    }
}

/// One request's answer as the peer read it.
public struct FastCGIResponse: Sendable {
    public var requestID: UInt16
    /// Every STDOUT byte: the CGI-style head, a blank line, the body.
    public var stdout: [UInt8]
    public var appStatus: Int32
    /// 0: FCGI_REQUEST_COMPLETE.
    public var protocolStatus: UInt8
    /// The `Status:` line's code.
    public var status: Int
    /// The head's fields but `Status`, in order.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    init(requestID: UInt16, stdout: [UInt8], appStatus: Int32, protocolStatus: UInt8) throws(FastCGIPeerError) {
        self.requestID = requestID
        self.stdout = stdout
        self.appStatus = appStatus
        self.protocolStatus = protocolStatus
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = stdout.indices.first(where: { stdout[$0...].starts(with: separator) }) else {
            throw .malformed("no end of head in \(String(decoding: stdout, as: UTF8.self))")
        }
        body = Array(stdout[(end + 4)...])
        var status = 0
        var headers: [(name: String, value: String)] = []
        for line in String(decoding: stdout[..<end], as: UTF8.self).split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingPrefix(" ") }
            guard parts.count == 2 else { throw .malformed("head line \(line)") }
            if parts[0] == "Status" {
                status = Int(parts[1].prefix { $0 != " " }) ?? 0
            } else {
                headers.append((String(parts[0]), String(parts[1])))
            }
        }
        self.status = status
        self.headers = headers
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

public enum FastCGIPeerError: Error, CustomStringConvertible {
    case system(String, Int32)
    case closed
    case timedOut
    case malformed(String)

    public var description: String {
        switch self {
        case .system(let call, let error): "\(call): \(String(cString: strerror(error)))"
        case .closed: "the responder closed the connection"
        case .timedOut: "no answer in time"
        case .malformed(let what): "malformed: \(what)"
        }
    }
}

/// libfcgi, set up once per test process (`FCGX_Init`) without taking the process's signals: libfcgi would turn
/// SIGTERM and SIGUSR1 into its shutdown flag for the whole test run, so their dispositions are put back. SIGPIPE
/// keeps a handler that does nothing (libfcgi's, or this one): a response written to a peer that left fails with
/// EPIPE instead of ending the process, and unlike SIG_IGN a handler is not passed on to the programs that tests start.
public enum FastCGITestLibrary {
    public static let isInitialized: Bool = {
        let kept = [SIGTERM, SIGUSR1, SIGINT, SIGHUP].map { signal -> (Int32, sigaction) in
            var action = sigaction()
            sigaction(signal, nil, &action)
            return (signal, action)
        }
        let initialized = FastCGILibrary.initialize()
        for (signal, action) in kept {
            var action = action
            sigaction(signal, &action, nil)
        }
        var pipe = sigaction()
        sigaction(SIGPIPE, nil, &pipe)
        if pipe.__sigaction_handler.sa_handler == nil {
            pipe.__sigaction_handler.sa_handler = { _ in }
            sigemptyset(&pipe.sa_mask)
            pipe.sa_flags = 0
            sigaction(SIGPIPE, &pipe, nil)
        }
        return initialized
    }()
}
