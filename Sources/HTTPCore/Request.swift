public import Essentials

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
    /// A streamed body would exceed the worker's bound on threads that hold streamed bodies; it was not read.
    case streamedBodiesBusy(limit: Int)
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
    /// `http` or `https`, as the web server received the request (`REQUEST_SCHEME`).
    public var scheme: String
    /// The port the web server received the request on (`SERVER_PORT`); "" when not passed.
    public var serverPort: String
    /// The body, when the transport read it whole (`BodyHandling.buffered`).
    public var body: [UInt8]
    /// The body still to be read, when the route streams it (`BodyHandling.streamed`).
    public var bodyStream: (any RequestBodyStream)?
    /// Set when the transport could not deliver the request whole; the body is then empty.
    public var rejection: TransportRejection?
    /// The clock of the thread serving the request: its deadline, its store time, how it waits on the network.
    /// Nil for a request made in memory (tests), which then has no deadline.
    public var clock: RequestClock?

    public init(
        method: String,
        path: String,
        query: String = "",
        headers: HeaderFields = HeaderFields(),
        remoteAddress: String = "",
        scheme: String = "http",
        serverPort: String = "",
        body: [UInt8] = [],
        bodyStream: (any RequestBodyStream)? = nil,
        rejection: TransportRejection? = nil,
        clock: RequestClock? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.scheme = scheme
        self.serverPort = serverPort
        self.body = body
        self.bodyStream = bodyStream
        self.rejection = rejection
        self.clock = clock
    }
}
