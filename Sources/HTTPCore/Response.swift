import Essentials

/// A complete response: status, headers and body bytes.
public struct Response: Sendable {
    public var status: HTTPStatus
    /// Header name/value pairs in the order they are written. `Content-Length` is added on write (not to a 304).
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
    public func appendHead(to bytes: inout [UInt8]) {
        Bytes.appendLiteral("Status: ", to: &bytes)
        Bytes.appendDecimal(Int64(status.code), to: &bytes)
        bytes.append(0x20)
        Bytes.appendUTF8(status.reason, to: &bytes)
        Bytes.appendLiteral("\r\n", to: &bytes)
        for (name, value) in headers {
            Bytes.appendUTF8(name, to: &bytes)
            Bytes.appendLiteral(": ", to: &bytes)
            Bytes.appendUTF8(value, to: &bytes)
            Bytes.appendLiteral("\r\n", to: &bytes)
        }
        // A 304 has no body, and a Content-Length would claim the size of the 200 it stands for.
        if status.code != 304 {
            Bytes.appendLiteral("Content-Length: ", to: &bytes)
            Bytes.appendDecimal(Int64(body.count), to: &bytes)
            Bytes.appendLiteral("\r\n", to: &bytes)
        }
        Bytes.appendLiteral("\r\n", to: &bytes)
    }

}
