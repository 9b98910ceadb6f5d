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
        writeHead { head.append(contentsOf: $0) }
        return head
    }

    /// Hands the head to `write` piece by piece, straight from where each piece is (a literal's bytes, a
    /// header's String, digits on the stack): the transport copies them into its output buffer with no
    /// intermediate buffer or String.
    public func writeHead(_ write: (UnsafeRawBufferPointer) -> Void) {
        func text(_ text: String) {
            var text = text
            text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
        }
        func literal(_ literal: StaticString) {
            write(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
        }
        literal("Status: ")
        Bytes.withDecimal(Int64(status.code), write)
        literal(" ")
        text(status.reason)
        literal("\r\n")
        for (name, value) in headers {
            text(name)
            literal(": ")
            text(value)
            literal("\r\n")
        }
        // A 304 has no body, and a Content-Length would claim the size of the 200 it stands for.
        if status.code != 304 {
            literal("Content-Length: ")
            Bytes.withDecimal(Int64(body.count), write)
            literal("\r\n")
        }
        literal("\r\n")
    }

}
