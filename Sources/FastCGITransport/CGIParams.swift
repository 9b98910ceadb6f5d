import Essentials
import HTTPCore

/// The CGI variables the transport uses; every other param is skipped without
/// building a String for it.
struct CGIParams {
    var method: String?
    var documentURI: String?
    var requestURI: String?
    var query: String?
    var contentType: String?
    var contentLength: String?
    var remoteAddress: String?
    var scheme: String?
    var serverPort: String?

    mutating func take(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        func text() -> String { String(decoding: value, as: UTF8.self) }
        // By length and last byte first: nginx passes ~15 CGI params, and only the candidate left is compared.
        switch (name.count, name.last) {
        case (11, UInt8(ascii: "R")) where name.holds(literal: "REMOTE_ADDR"): remoteAddress = text()
        case (11, UInt8(ascii: "I")) where name.holds(literal: "REQUEST_URI"): requestURI = text()
        case (11, UInt8(ascii: "T")) where name.holds(literal: "SERVER_PORT"): serverPort = text()
        case (12, UInt8(ascii: "I")) where name.holds(literal: "DOCUMENT_URI"): documentURI = text()
        case (12, UInt8(ascii: "G")) where name.holds(literal: "QUERY_STRING"): query = text()
        case (12, UInt8(ascii: "E")) where name.holds(literal: "CONTENT_TYPE"): contentType = text()
        case (14, UInt8(ascii: "D")) where name.holds(literal: "REQUEST_METHOD"): method = text()
        case (14, UInt8(ascii: "H")) where name.holds(literal: "CONTENT_LENGTH"): contentLength = text()
        case (14, UInt8(ascii: "E")) where name.holds(literal: "REQUEST_SCHEME"): scheme = text()
        default: break
        }
    }

    /// The decoded path: nginx's `DOCUMENT_URI`, else the path of `REQUEST_URI`.
    var path: String {
        if let documentURI, !documentURI.isEmpty { return documentURI }
        let uri = requestURI ?? "/"
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "/"
        return path.removingPercentEncodingLeniently()
    }
}

/// Builds a request's head from its FastCGI params, each a `NAME=VALUE` entry
/// as libfcgi hands them over: `HTTP_*` params become headers, the CGI
/// variables the transport uses fill in method, path, query and body length.
/// Apart from libfcgi so it can be tested and fuzzed on plain bytes.
struct RequestHeadDecoder {
    private let maxParamsBytes: Int
    private var cgi = CGIParams()
    /// Lowercase names, each once, in arrival order; sized for a typical request (nginx passes a handful).
    private var headers: [(name: String, value: String)] = []
    /// Where each name is, once there are too many to scan for each new one (so that a request of
    /// thousands of tiny headers costs linear time, not quadratic).
    private var positions: [String: Int]?
    private var paramsBytes = 0

    init(maxParamsBytes: Int) {
        self.maxParamsBytes = maxParamsBytes
    }

    /// Takes one `NAME=VALUE` param; an entry without `=` is skipped. Past
    /// `maxParamsBytes` in all, entries are only counted.
    mutating func take(_ entry: UnsafeBufferPointer<UInt8>) {
        paramsBytes += entry.count
        guard paramsBytes <= maxParamsBytes, let equals = entry.firstIndex(of: UInt8(ascii: "=")) else { return }
        let name = UnsafeBufferPointer(rebasing: entry[..<equals])
        let value = UnsafeBufferPointer(rebasing: entry[(equals + 1)...])
        if Self.isHeader(name) {
            let header = Self.headerName(fromParam: UnsafeBufferPointer(rebasing: name[5...]))
            let text = String(decoding: value, as: UTF8.self)
            // A repeated field is its values joined by commas (RFC 9110 5.3), never the last one alone:
            // a credential sent twice is then malformed, not whichever copy came last.
            if let earlier = position(of: header) {
                headers[earlier].value += ", " + text
            } else {
                if headers.isEmpty { headers.reserveCapacity(8) }
                headers.append((header, text))
                positions?[header] = headers.count - 1
            }
        } else {
            cgi.take(name: name, value: value)
        }
    }

    private mutating func position(of name: String) -> Int? {
        if let positions { return positions[name] }
        if headers.count < 16 { return headers.firstIndex { $0.name == name } }
        positions = Dictionary(headers.enumerated().map { ($0.element.name, $0.offset) }, uniquingKeysWith: { first, _ in first })
        return positions?[name]
    }

    /// The head, with its rejection if the transport refuses it, and the
    /// declared body length (`CONTENT_LENGTH`) if it is a number.
    func finish() -> (request: Request, declaredLength: Int?) {
        var headers = headers
        var request = Request(
            method: cgi.method ?? "GET",
            path: cgi.path,
            query: cgi.query ?? "",
            headers: HeaderFields(),
            remoteAddress: cgi.remoteAddress ?? "",
            scheme: cgi.scheme ?? "http",
            serverPort: cgi.serverPort ?? ""
        )
        if paramsBytes > maxParamsBytes {
            request.rejection = .paramsTooLarge(limit: maxParamsBytes)
            return (request, nil)
        }
        // Where the CGI variables give these two, they win over an HTTP_ param of the same name.
        func set(_ name: String, _ value: String) {
            headers.removeAll { $0.name == name }
            headers.append((name, value))
        }
        if let contentType = cgi.contentType, !contentType.isEmpty { set("content-type", contentType) }
        let declaredLength = cgi.contentLength.flatMap { Int($0) }
        if let declaredLength { set("content-length", String(declaredLength)) }
        request.headers = HeaderFields(lowercasedNames: headers)
        if let text = cgi.contentLength, !text.isEmpty, (declaredLength ?? -1) < 0 {
            request.rejection = .invalidContentLength
        }
        return (request, declaredLength)
    }

    /// Whether a param's name starts with `HTTP_`: five byte comparisons, for each of a request's ~20 params.
    static func isHeader(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        name.count >= 5 && name[0] == UInt8(ascii: "H") && name[1] == UInt8(ascii: "T") && name[2] == UInt8(ascii: "T")
            && name[3] == UInt8(ascii: "P") && name[4] == UInt8(ascii: "_")
    }

    /// `X_API_KEY` (after `HTTP_`) → `x-api-key`.
    static func headerName(fromParam name: UnsafeBufferPointer<UInt8>) -> String {
        String(unsafeUninitializedCapacity: name.count) { output in
            for (index, byte) in name.enumerated() {
                output[index] = byte == UInt8(ascii: "_") ? UInt8(ascii: "-") : (byte >= 65 && byte <= 90 ? byte + 32 : byte)
            }
            return name.count
        }
    }
}
