import FuzzSupport
import HTTPCore

// The scan of a connection's head before libfcgi reads it, then request decoding: the FastCGI params of a request (as libfcgi hands them
// over, `NAME=VALUE` entries) to its method, path, query, headers and body
// length, and the query string to its parameters.
//
// Input: the entries, separated by 0x00 (an entry never holds one). The
// decoded head must equal what a plain model of the rules gives: headers from
// `HTTP_*` (lowercase, `-` for `_`, repeats joined with ", "), the CGI
// variables (the last one wins), the params limit, CONTENT_LENGTH's checks.
@testable import API
@testable import FastCGITransport

let maxParamsBytes = 2048

/// Percent-decoding as the model has it: `%XY` with two hex digits is that byte, anything else stays.
func percentDecoded(_ text: String) -> String {
    let bytes = Array(text.utf8)
    var output: [UInt8] = []
    var index = 0
    while index < bytes.count {
        if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hexValue(bytes[index + 1]),
            let low = hexValue(bytes[index + 2])
        {
            output.append(high * 16 + low)
            index += 3
        } else {
            output.append(bytes[index])
            index += 1
        }
    }
    return String(decoding: output, as: UTF8.self)
}

func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

fuzz { input in
    // The records' scan before libfcgi (`ParamsScan`), on the same bytes as a connection's head: it never reads
    // past them, asks only for more than it has, and a verdict it reaches stands whatever follows.
    let scan = input.withUnsafeBytes { ParamsScan.scan($0, maxParamsBytes: 64) }
    switch scan {
    case .needs(let bytes):
        require(bytes > input.count, "needs \(bytes) of \(input.count) bytes")
    case .safe, .refused:
        let extended = (input + [4, 4, 0, 1, 0xFF, 0xFF, 0, 0]).withUnsafeBytes { ParamsScan.scan($0, maxParamsBytes: 64) }
        require(extended == scan, "\(scan) became \(extended) with more input")
    }

    let entries = pieces(input[...], separator: 0x00)

    var decoder = RequestHeadDecoder(maxParamsBytes: maxParamsBytes)
    for entry in entries { entry.withUnsafeBufferPointer { decoder.take($0) } }
    let (request, declaredLength) = decoder.finish()

    // The model.
    var total = 0
    var headers: [String: String] = [:]
    var cgi: [String: String] = [:]
    for entry in entries {
        total += entry.count
        guard total <= maxParamsBytes, let equals = entry.firstIndex(of: UInt8(ascii: "=")) else { continue }
        let name = entry[..<equals]
        let value = String(decoding: entry[(equals + 1)...], as: UTF8.self)
        if name.starts(with: "HTTP_".utf8) {
            let header = String(decoding: name.dropFirst(5).map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }, as: UTF8.self)
            let lowered = String(decoding: header.utf8.map { (65...90).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
            headers[lowered] = headers[lowered].map { $0 + ", " + value } ?? value
        } else {
            cgi[String(decoding: name, as: UTF8.self)] = value
        }
    }
    require(request.method == (cgi["REQUEST_METHOD"] ?? "GET"), "method \(request.method)")
    require(request.query == (cgi["QUERY_STRING"] ?? ""), "query \(request.query)")
    require(request.remoteAddress == (cgi["REMOTE_ADDR"] ?? ""), "remote address \(request.remoteAddress)")
    let path: String
    if let document = cgi["DOCUMENT_URI"], !document.isEmpty {
        path = document
    } else {
        let uri = cgi["REQUEST_URI"] ?? "/"
        path = percentDecoded(String(uri.prefix { $0 != "?" }))
    }
    require(request.path == path, "path \(request.path), expected \(path)")
    if total > maxParamsBytes {
        require(
            request.rejection == .paramsTooLarge(limit: maxParamsBytes),
            "\(total) bytes of params, rejection \(String(describing: request.rejection))")
        require(declaredLength == nil, "a declared length from refused params")
        return
    }
    if let type = cgi["CONTENT_TYPE"], !type.isEmpty { headers["content-type"] = type }
    let length = cgi["CONTENT_LENGTH"].flatMap { Int($0) }
    if let length { headers["content-length"] = String(length) }
    require(declaredLength == length, "declared length \(String(describing: declaredLength))")
    require(request.headers.all == headers, "headers \(request.headers.all), expected \(headers)")
    for (name, value) in headers where name.utf8.allSatisfy({ $0 < 0x80 }) {
        require(request.headers[name.uppercased()] == value, "header \(name) by another case")
    }
    let badLength = cgi["CONTENT_LENGTH"].map { !$0.isEmpty && (length ?? -1) < 0 } ?? false
    require((request.rejection == .invalidContentLength) == badLength, "rejection \(String(describing: request.rejection))")
    require(request.rejection == nil || badLength, "rejection \(String(describing: request.rejection))")

    // The query string's parameters: the first of a name wins; when nothing is escaped, they are taken as they are.
    guard !request.query.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else { return }
    let parameters = QueryParameters(request.query)
    var seen = Set<String>()
    for pair in request.query.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0])
        if seen.insert(name).inserted { require(parameters[name] == (parts.count > 1 ? String(parts[1]) : ""), "query parameter \(name)") }
    }
}
