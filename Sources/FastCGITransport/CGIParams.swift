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

    mutating func take(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        func text() -> String { String(decoding: value, as: UTF8.self) }
        switch name.count {
        case 11 where name.elementsEqual("REMOTE_ADDR".utf8): remoteAddress = text()
        case 11 where name.elementsEqual("REQUEST_URI".utf8): requestURI = text()
        case 12 where name.elementsEqual("DOCUMENT_URI".utf8): documentURI = text()
        case 12 where name.elementsEqual("QUERY_STRING".utf8): query = text()
        case 12 where name.elementsEqual("CONTENT_TYPE".utf8): contentType = text()
        case 14 where name.elementsEqual("REQUEST_METHOD".utf8): method = text()
        case 14 where name.elementsEqual("CONTENT_LENGTH".utf8): contentLength = text()
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
