/// Limits the transport enforces before the application sees a request.
public struct TransportLimits: Sendable {
    /// Longest body read into memory; a longer one is drained and refused (413).
    public var maxBodyBytes: Int
    /// Largest total size of all FastCGI params (names and values); more is refused (431).
    public var maxParamsBytes: Int

    public init(maxBodyBytes: Int, maxParamsBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
        self.maxParamsBytes = maxParamsBytes
    }
}
