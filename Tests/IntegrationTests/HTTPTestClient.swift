import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A response as the test client saw it.
struct HTTPResult {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The body parsed as a JSON object (empty when it is not one).
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }
}

enum TestClientError: Error {
    case connect(Int32)
    case closed
    case malformed(String)
}

/// A minimal blocking HTTP/1.1 client over a TCP socket, with keep-alive:
/// it sends exactly the bytes a test asks for, so tests control every header.
final class HTTPTestClient: @unchecked Sendable {
    // @unchecked: a client is used by one thread at a time.
    private let port: UInt16
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []

    init(port: UInt16) { self.port = port }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        buffer = []
    }

    private func connectIfNeeded() throws {
        guard fd < 0 else { return }
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let error = errno
            Glibc.close(socket)
            throw TestClientError.connect(error)
        }
        fd = socket
    }

    /// Sends one request and reads its response; reconnects if the server closed the connection.
    func send(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8] = []) throws -> HTTPResult {
        try connectIfNeeded()
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PATCH" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try writeAll(Array(head.utf8) + body)
        let result = try readResponse()
        if result.header("connection")?.lowercased() == "close" { close() }
        return result
    }

    /// Sends a request whose body goes out with chunked transfer encoding (no Content-Length).
    func sendChunked(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8], chunkBytes: Int = 64 * 1024) throws
        -> HTTPResult
    {
        try connectIfNeeded()
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        try writeAll(Array((head + "\r\n").utf8))
        var offset = 0
        while offset < body.count {
            let piece = body[offset..<min(body.count, offset + chunkBytes)]
            try writeAll(Array(String(piece.count, radix: 16).utf8) + [0x0D, 0x0A] + piece + [0x0D, 0x0A])
            offset += piece.count
        }
        try writeAll(Array("0\r\n\r\n".utf8))
        let result = try readResponse()
        if result.header("connection")?.lowercased() == "close" { close() }
        return result
    }

    /// Writes raw bytes (a request head, or part of a body) without reading an answer.
    func write(_ bytes: [UInt8]) throws {
        try connectIfNeeded()
        try writeAll(bytes)
    }

    /// Reads one response (after `write`).
    func receive() throws -> HTTPResult {
        try readResponse()
    }

    func get(_ path: String, headers: [String: String] = [:]) throws -> HTTPResult {
        try send("GET", path, headers: headers)
    }

    func postJSON(_ path: String, _ json: String, headers: [String: String] = [:]) throws -> HTTPResult {
        var all = headers
        all["Content-Type"] = all["Content-Type"] ?? "application/json"
        return try send("POST", path, headers: all, body: Array(json.utf8))
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else {
                close()
                throw TestClientError.closed
            }
            offset += written
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else {
            close()
            throw TestClientError.closed
        }
        buffer.append(contentsOf: chunk[0..<count])
    }

    private func readLine() throws -> String {
        while true {
            if let index = buffer.firstIndex(of: 0x0A) {
                let line = buffer[..<index]
                buffer.removeSubrange(...index)
                return String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
            }
            try fill()
        }
    }

    private func readBytes(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { try fill() }
        let bytes = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return bytes
    }

    private func readResponse() throws -> HTTPResult {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw TestClientError.malformed(statusLine) }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var body: [UInt8] = []
        if let length = headers["content-length"].flatMap(Int.init) {
            body = try readBytes(length)
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while true {
                let size = Int(try readLine(), radix: 16) ?? 0
                if size == 0 {
                    _ = try readLine()
                    break
                }
                body += try readBytes(size)
                _ = try readLine()
            }
        }
        return HTTPResult(status: status, headers: headers, body: body)
    }
}
