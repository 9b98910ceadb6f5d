#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: what was called and the errno it left.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Runs `body` until it stops failing with EINTR; a -1 result becomes a `SystemError`. Inlinable, so that a
/// call on a request's path costs the system call and a compare.
@discardableResult @inlinable
public func retryingOnInterrupt<T: FixedWidthInteger>(_ call: String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = lastErrno()
        if error == interruptedCall { continue }
        throw SystemError(call, errno: error)
    }
}

/// The calling thread's errno.
@usableFromInline func lastErrno() -> Int32 { errno }

/// EINTR.
@usableFromInline let interruptedCall = EINTR
