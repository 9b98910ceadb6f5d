#if canImport(Glibc)
import Glibc
#endif

/// Byte work the request path does without building Strings: digits, comparisons, whole writes.
public enum Bytes {
    /// Appends the decimal digits of `value` (a leading `-` when negative).
    @inlinable
    public static func appendDecimal(_ value: Int64, to output: inout [UInt8]) {
        withDecimal(value) { output.append(contentsOf: $0) }
    }

    /// Calls `body` with the decimal digits of `value` (a leading `-` when negative), formatted on the stack.
    @inlinable
    public static func withDecimal<T>(_ value: Int64, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for a sign and UInt64's 20 digits
        return withUnsafeMutableBytes(of: &digits) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                start -= 1
                buffer[start] = UInt8(ascii: "-")
            }
            return body(UnsafeRawBufferPointer(rebasing: buffer[start...]))
        }
    }

    /// Appends a literal's UTF-8, copied from where the compiler put it: no check of the String's form,
    /// no reference counting, where `append(contentsOf: "…".utf8)` costs about 130 instructions.
    @inlinable
    public static func appendLiteral(_ literal: StaticString, to output: inout [UInt8]) {
        literal.withUTF8Buffer { output.append(contentsOf: $0) }
    }

    /// Writes all of `bytes` to `fd`, again after a signal interrupts a write; false when a write fails.
    @discardableResult
    public static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32) -> Bool {
        var sent = 0
        while sent < bytes.count {
            guard let count = try? retryingOnInterrupt("write", { write(fd, bytes.baseAddress! + sent, bytes.count - sent) }), count > 0
            else { return false }
            sent += count
        }
        return true
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Whether these bytes are exactly `literal`'s UTF-8: one `memcmp` against the literal's own bytes.
    public func holds(literal: StaticString) -> Bool {
        literal.utf8CodeUnitCount == count && (count == 0 || memcmp(literal.utf8Start, baseAddress!, count) == 0)
    }

    /// Whether these bytes are exactly `text`'s UTF-8: one `memcmp` on the String's own storage, where
    /// comparing element by element through `String.UTF8View` costs hundreds of instructions.
    public func holds(_ text: String) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.count == count && (bytes.isEmpty || memcmp(bytes.baseAddress!, baseAddress!, count) == 0)
        } ?? text.utf8.elementsEqual(self)
    }
}
