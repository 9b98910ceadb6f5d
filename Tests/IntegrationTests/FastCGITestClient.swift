import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Speaks FastCGI straight to the pool's unix socket (no nginx), so a test
/// can hold a request open half-sent while it signals the pool.
final class FastCGITestClient {
    private var fd: Int32 = -1

    init(socketPath: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: socketPath.utf8)
            raw[socketPath.utf8.count] = 0
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw TestClientError.connect(errno) }
    }

    deinit { if fd >= 0 { close(fd) } }

    private func record(type: UInt8, content: [UInt8]) -> [UInt8] {
        let length = content.count
        return [1, type, 0, 1, UInt8(length >> 8), UInt8(length & 0xFF), 0, 0] + content
    }

    private func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { throw TestClientError.closed }
            offset += written
        }
    }

    private static func nameValue(_ name: String, _ value: String) -> [UInt8] {
        func length(_ count: Int) -> [UInt8] {
            count < 128
                ? [UInt8(count)] : [UInt8(0x80 | (count >> 24)), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
        }
        return length(name.utf8.count) + length(value.utf8.count) + Array(name.utf8) + Array(value.utf8)
    }

    /// Sends BEGIN_REQUEST and the params, and the first part of the body. With `keepConnection` the
    /// connection stays open for another request, as nginx's `fastcgi_keep_conn on` asks.
    func begin(
        method: String, path: String, headers: [String: String], contentLength: Int, firstPart: [UInt8], keepConnection: Bool = false
    ) throws {
        var bytes = record(type: 1, content: [0, 1, keepConnection ? 1 : 0, 0, 0, 0, 0, 0])  // responder
        var params: [UInt8] = []
        var all = ["REQUEST_METHOD": method, "DOCUMENT_URI": path, "REQUEST_URI": path, "QUERY_STRING": "", "CONTENT_LENGTH": "\(contentLength)"]
        for (name, value) in headers { all[name] = value }
        for (name, value) in all { params += Self.nameValue(name, value) }
        bytes += record(type: 4, content: params) + record(type: 4, content: [])
        if !firstPart.isEmpty { bytes += record(type: 5, content: firstPart) }
        try send(bytes)
    }

    /// Sends `bytes` as they are: records written by hand.
    func sendRaw(_ bytes: [UInt8]) throws {
        try send(bytes)
    }

    /// Whether the pool closes the connection (reads its end) within the socket's receive timeout, reading
    /// and dropping whatever comes before.
    func readsEnd() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return true }
            if n < 0 { return false }
        }
    }

    /// Sends the rest of the body and the end of input.
    func finish(rest: [UInt8]) throws {
        try send((rest.isEmpty ? [] : record(type: 5, content: rest)) + record(type: 5, content: []))
    }

    /// Reads STDOUT records until END_REQUEST; returns the CGI-style response text.
    func readResponse() throws -> String {
        var output: [UInt8] = []
        while true {
            let header = try readExactly(8)
            let length = Int(header[4]) << 8 | Int(header[5])
            let content = try readExactly(length + Int(header[6]))
            if header[1] == 6 { output += content.prefix(length) }
            if header[1] == 3 { break }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: max(count, 1))
        while bytes.count < count {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, count - bytes.count) }
            guard n > 0 else { throw TestClientError.closed }
            bytes += chunk[0..<n]
        }
        return bytes
    }
}
