// The one file that talks to libcurl: blocking HTTP(S) GETs for the
// threaded workers (each call uses its own easy handle; no signals).
private import CCurl

/// What went wrong with an outbound request.
public enum HTTPFetchError: Error, Equatable, CustomStringConvertible {
    case timedOut(seconds: Double)
    case transport(String)
    case status(Int)
    case tooLarge(limit: Int)

    public var description: String {
        switch self {
        case .timedOut(let seconds): "no answer within \(seconds) s"
        case .transport(let message): message
        case .status(let code): "HTTP status \(code)"
        case .tooLarge(let limit): "response larger than \(limit) bytes"
        }
    }
}

/// A response: status and body bytes.
public struct HTTPFetchResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
}

private final class ResponseBuffer {
    var bytes: [UInt8] = []
    let limit: Int
    var overflowed = false
    init(limit: Int) { self.limit = limit }
}

/// Blocking HTTP GET over libcurl.
public struct HTTPFetcher: Sendable {
    public var timeoutSeconds: Double
    public var maxResponseBytes: Int

    public init(timeoutSeconds: Double = 5, maxResponseBytes: Int = 4 << 20) {
        self.timeoutSeconds = timeoutSeconds
        self.maxResponseBytes = maxResponseBytes
        _ = Self.globalInit
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// GETs `url` with extra `headers` ("Name: value"); any status is returned.
    public func get(_ url: String, headers: [String] = []) throws(HTTPFetchError) -> HTTPFetchResponse {
        guard let handle = curl_easy_init() else { throw .transport("curl_easy_init failed") }
        defer { curl_easy_cleanup(handle) }
        var headerList: UnsafeMutablePointer<curl_slist>?
        for header in headers { headerList = curl_slist_append(headerList, header) }
        defer { curl_slist_free_all(headerList) }

        let buffer = ResponseBuffer(limit: maxResponseBytes)
        let context = Unmanaged.passRetained(buffer)
        defer { context.release() }

        _ = CCurl_setopt_string(handle, CURLOPT_URL, url)
        _ = CCurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = CCurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(timeoutSeconds * 1000))
        _ = CCurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(timeoutSeconds * 1000))
        _ = CCurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1)
        _ = CCurl_setopt_long(handle, CURLOPT_MAXREDIRS, 3)
        // A redirect never downgrades https to plain http.
        _ = CCurl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, url.hasPrefix("https://") ? "https" : "http,https")
        _ = CCurl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "")
        _ = CCurl_setopt_string(handle, CURLOPT_USERAGENT, "ftapi")
        if let headerList { _ = CCurl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList)) }
        _ = CCurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context.toOpaque())
        _ = CCurl_setopt_write_function(handle) { data, size, count, raw in
            let buffer = Unmanaged<ResponseBuffer>.fromOpaque(raw!).takeUnretainedValue()
            let length = size * count
            if buffer.bytes.count + length > buffer.limit {
                buffer.overflowed = true
                return 0  // makes curl abort the transfer
            }
            if let data { buffer.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length)) }
            return length
        }

        let result = curl_easy_perform(handle)
        if buffer.overflowed { throw .tooLarge(limit: maxResponseBytes) }
        guard result == CURLE_OK else {
            if result == CURLE_OPERATION_TIMEDOUT { throw .timedOut(seconds: timeoutSeconds) }
            throw .transport(String(cString: curl_easy_strerror(result)))
        }
        var status = 0
        _ = CCurl_getinfo_response_code(handle, &status)
        return HTTPFetchResponse(status: status, body: buffer.bytes)
    }
}
