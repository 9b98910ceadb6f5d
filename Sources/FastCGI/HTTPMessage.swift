/// An HTTP status code with its reason phrase.
public struct HTTPStatus: Sendable, Equatable, CustomStringConvertible {
    public let code: Int
    public let reason: String

    public init(_ code: Int, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code) \(reason)" }

    public static let ok = HTTPStatus(200, "OK")
    public static let created = HTTPStatus(201, "Created")
    public static let noContent = HTTPStatus(204, "No Content")
    public static let badRequest = HTTPStatus(400, "Bad Request")
    public static let unauthorized = HTTPStatus(401, "Unauthorized")
    public static let forbidden = HTTPStatus(403, "Forbidden")
    public static let notFound = HTTPStatus(404, "Not Found")
    public static let methodNotAllowed = HTTPStatus(405, "Method Not Allowed")
    public static let conflict = HTTPStatus(409, "Conflict")
    public static let contentTooLarge = HTTPStatus(413, "Content Too Large")
    public static let unsupportedMediaType = HTTPStatus(415, "Unsupported Media Type")
    public static let unprocessableContent = HTTPStatus(422, "Unprocessable Content")
    public static let tooManyRequests = HTTPStatus(429, "Too Many Requests")
    public static let headerFieldsTooLarge = HTTPStatus(431, "Request Header Fields Too Large")
    public static let internalServerError = HTTPStatus(500, "Internal Server Error")
    public static let badGateway = HTTPStatus(502, "Bad Gateway")
    public static let serviceUnavailable = HTTPStatus(503, "Service Unavailable")
    public static let gatewayTimeout = HTTPStatus(504, "Gateway Timeout")
}

/// Request header fields, looked up case-insensitively.
///
/// FastCGI hands headers over as `HTTP_*` params; they are stored here with
/// lowercase, dash-separated names (`HTTP_X_API_KEY` → `x-api-key`).
public struct HeaderFields: Sendable {
    private var storage: [String: String]

    public init(_ fields: [String: String] = [:]) {
        storage = [:]
        for (name, value) in fields { storage[Self.lowercased(name)] = value }
    }

    /// Takes names that are already lowercase as they are.
    init(lowercasedNames fields: [String: String]) {
        storage = fields
    }

    /// The value of the header `name` (any case), or nil.
    public subscript(name: String) -> String? {
        get { storage[Self.lowercased(name)] }
        set { storage[Self.lowercased(name)] = newValue }
    }

    /// Header names are ASCII; lowercase without allocating when already lowercase.
    private static func lowercased(_ name: String) -> String {
        name.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) ? name.lowercased() : name
    }

    public var all: [String: String] { storage }
}

/// Why the transport refused to hand over a complete request.
public enum TransportRejection: Sendable, Equatable {
    /// The body was longer than the configured limit (it was drained, not kept).
    case bodyTooLarge(limit: Int)
    /// The FastCGI params (headers and CGI variables) exceeded the configured total.
    case paramsTooLarge(limit: Int)
    /// The body ended before `CONTENT_LENGTH` bytes arrived.
    case bodyIncomplete
    /// `CONTENT_LENGTH` was not a non-negative number.
    case invalidContentLength
}

/// A request as the application sees it: plain Swift values, no FastCGI.
public struct Request: Sendable {
    public var method: String
    /// The decoded path without the query string, e.g. `/api/training/stats`.
    public var path: String
    /// The raw query string (without `?`), percent-encoded as received.
    public var query: String
    public var headers: HeaderFields
    public var remoteAddress: String
    /// The body, when the transport read it whole (`BodyHandling.buffered`).
    public var body: [UInt8]
    /// The body still to be read, when the route streams it (`BodyHandling.streamed`).
    public var bodyStream: (any RequestBodyStream)?
    /// Set when the transport could not deliver the request whole; the body is then empty.
    public var rejection: TransportRejection?

    public init(
        method: String,
        path: String,
        query: String = "",
        headers: HeaderFields = HeaderFields(),
        remoteAddress: String = "",
        body: [UInt8] = [],
        bodyStream: (any RequestBodyStream)? = nil,
        rejection: TransportRejection? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.body = body
        self.bodyStream = bodyStream
        self.rejection = rejection
    }
}

/// A complete response: status, headers and body bytes.
public struct Response: Sendable {
    public var status: HTTPStatus
    /// Header name/value pairs in the order they are written. `Content-Length` is added on write.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: HTTPStatus, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }

    /// The CGI-style head that FastCGI responders write before the body.
    public func serializedHead() -> [UInt8] {
        var head: [UInt8] = []
        appendHead(to: &head)
        return head
    }

    /// Appends the head to `bytes` without building intermediate Strings.
    func appendHead(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: "Status: ".utf8)
        bytes.append(contentsOf: String(status.code).utf8)
        bytes.append(0x20)
        bytes.append(contentsOf: status.reason.utf8)
        bytes.append(contentsOf: "\r\n".utf8)
        for (name, value) in headers {
            bytes.append(contentsOf: name.utf8)
            bytes.append(contentsOf: ": ".utf8)
            bytes.append(contentsOf: value.utf8)
            bytes.append(contentsOf: "\r\n".utf8)
        }
        bytes.append(contentsOf: "Content-Length: ".utf8)
        bytes.append(contentsOf: String(body.count).utf8)
        bytes.append(contentsOf: "\r\n\r\n".utf8)
    }
}

/// Turns requests into responses. Called concurrently from every accept
/// thread of a worker, so implementations must be thread-safe.
public protocol Responder: Sendable {
    /// How the body of a request for `path` is delivered; asked once the params have arrived.
    func bodyHandling(method: String, path: String) -> BodyHandling
    func respond(to request: Request) -> Response
    /// Called once when the worker has stopped serving, before it exits.
    func workerDidStop()
}

extension Responder {
    public func bodyHandling(method: String, path: String) -> BodyHandling { .buffered }
}

/// How the transport hands a request's body to the application.
public enum BodyHandling: Sendable, Equatable {
    /// Read whole into `Request.body` before the application runs, up to the transport's limit.
    case buffered
    /// Left in the connection for the application to read through
    /// `Request.bodyStream` as it arrives, up to `maxBytes`.
    case streamed(maxBytes: Int)
}

/// Why a streamed body could not be read to its end.
public enum BodyStreamError: Error, Equatable {
    /// More than the route's limit arrived.
    case tooLarge(limit: Int)
    /// The client went away (or the connection broke) before the body ended.
    case incomplete
}

/// A request body read as it arrives, by the one thread serving the request.
public protocol RequestBodyStream: AnyObject, Sendable {
    /// Reads the next bytes into `buffer`: the count, or 0 at the end of the body.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(BodyStreamError) -> Int
}

/// A body already in memory, served as a stream in pieces of at most
/// `pieceBytes` (for in-process callers and tests).
public final class InMemoryBodyStream: RequestBodyStream, @unchecked Sendable {
    // @unchecked: like every body stream, used by one thread at a time.
    private let bytes: [UInt8]
    private let maxBytes: Int
    private let pieceBytes: Int
    private let endsEarly: Bool
    private var offset = 0

    /// - Parameters:
    ///   - endsEarly: end in `.incomplete` after the bytes, as an aborted upload does.
    public init(_ bytes: [UInt8], maxBytes: Int = .max, pieceBytes: Int = 64 * 1024, endsEarly: Bool = false) {
        self.bytes = bytes
        self.maxBytes = maxBytes
        self.pieceBytes = pieceBytes
        self.endsEarly = endsEarly
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(BodyStreamError) -> Int {
        if offset >= maxBytes && offset < bytes.count { throw .tooLarge(limit: maxBytes) }
        let count = min(buffer.count, pieceBytes, bytes.count - offset)
        if count == 0 && endsEarly { throw .incomplete }
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
    }
}

extension String {
    /// Percent-decodes; an invalid escape is kept as it is.
    public func removingPercentEncodingLeniently() -> String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = Array(utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let high = hexValue(iterator[iterator.startIndex]),
                let low = hexValue(iterator[iterator.startIndex + 1])
            {
                bytes.append(high << 4 | low)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
