/// How the transport hands a request's body to the application.
public enum BodyHandling: Sendable, Equatable {
    /// Read whole into `Request.body` before the application runs, up to the transport's limit.
    case buffered
    /// Left in the connection for the application to read through
    /// `Request.bodyStream` as it arrives, up to `maxBytes`.
    case streamed(maxBytes: Int)
}

/// Why a streamed body could not be read to its end.
public enum BodyStreamError: Error, Equatable {
    /// More than the route's limit arrived.
    case tooLarge(limit: Int)
    /// The client went away (or the connection broke) before the body ended.
    case incomplete
    /// The body arrived slower than `minimumBytesPerSecond` over a window of `windowSeconds`, and was cut.
    case tooSlow(minimumBytesPerSecond: Int, windowSeconds: Double)
}

/// A request body read as it arrives, by the one thread serving the request.
public protocol RequestBodyStream: AnyObject, Sendable {
    /// Reads the next bytes into `buffer`: the count, or 0 at the end of the body.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(BodyStreamError) -> Int
}

/// A body already in memory, served as a stream in pieces of at most
/// `pieceBytes` (for in-process callers and tests).
public final class InMemoryBodyStream: RequestBodyStream, @unchecked Sendable {
    // @unchecked: like every body stream, used by one thread at a time.
    private let bytes: [UInt8]
    private let maxBytes: Int
    private let pieceBytes: Int
    private let endsEarly: Bool
    private var offset = 0

    /// - Parameters:
    ///   - endsEarly: end in `.incomplete` after the bytes, as an aborted upload does.
    public init(_ bytes: [UInt8], maxBytes: Int = .max, pieceBytes: Int = 64 * 1024, endsEarly: Bool = false) {
        self.bytes = bytes
        self.maxBytes = maxBytes
        self.pieceBytes = pieceBytes
        self.endsEarly = endsEarly
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(BodyStreamError) -> Int {
        if offset >= maxBytes && offset < bytes.count { throw .tooLarge(limit: maxBytes) }
        let count = min(buffer.count, pieceBytes, bytes.count - offset)
        if count == 0 && endsEarly { throw .incomplete }
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
    }
}
