/// Limits the transport enforces before the application sees a request.
public struct TransportLimits: Sendable {
    /// Longest body read into memory; a longer one is drained and refused (413).
    public var maxBodyBytes: Int
    /// Largest total size of all FastCGI params (names and values); more is refused (431).
    public var maxParamsBytes: Int
    /// Most accept threads of one worker that may hold a streamed body at once; past it a 503 (0: no bound).
    public var maxStreamedBodies: Int = 0
    /// A streamed body that brings fewer bytes than this per second over `bodyRateWindowSeconds` is cut (408; 0: never).
    public var minimumBodyBytesPerSecond: Int = 0
    public var bodyRateWindowSeconds: Double = 10

    public init(maxBodyBytes: Int, maxParamsBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
        self.maxParamsBytes = maxParamsBytes
    }
}
