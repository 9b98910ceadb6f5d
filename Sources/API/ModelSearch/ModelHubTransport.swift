/// Where and how model search reaches the Hugging Face Hub.
public struct ModelSearchSettings: Sendable {
    /// `HF_ENDPOINT`, without a trailing slash.
    public var endpoint: String
    /// `HF_TOKEN`, sent as a bearer token when set; never logged or echoed.
    public var token: String?
    /// Seconds the Hub gets to answer; past it the search is a 504.
    public var timeoutSeconds: Double
    /// How long an answer is reused for the same (query, limit, sort).
    public var cacheSeconds: Double
    /// Most answers a worker keeps; the least recently used goes first.
    public var cacheEntries: Int

    public init(
        endpoint: String = "https://huggingface.co", token: String? = nil, timeoutSeconds: Double = 5, cacheSeconds: Double = 300,
        cacheEntries: Int = 256
    ) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.token = token
        self.timeoutSeconds = timeoutSeconds
        self.cacheSeconds = cacheSeconds
        self.cacheEntries = cacheEntries
    }
}

/// Why an outbound request got no HTTP answer.
public enum ModelHubTransportError: Error, Equatable {
    case timedOut
    /// Connection refused, DNS, TLS, an answer too large…: the message says which.
    case failed(String)
}

/// A blocking HTTP GET, safe to call from every accept thread at once. The
/// executable provides it over libcurl; tests fake it.
public protocol ModelHubTransport: Sendable {
    /// GETs `url` with `headers` ("Name: value"); any HTTP status is returned.
    func get(url: String, headers: [String], timeoutSeconds: Double) throws(ModelHubTransportError) -> (status: Int, body: [UInt8])
}

/// The transport when none is configured: every search is a 502.
struct UnavailableModelHub: ModelHubTransport {
    func get(url: String, headers: [String], timeoutSeconds: Double) throws(ModelHubTransportError) -> (status: Int, body: [UInt8]) {
        throw .failed("no HTTP client is configured")
    }
}
