#if canImport(Glibc)
import Glibc
#endif

/// Byte work the request path does without building Strings: digits, comparisons, whole writes.
public enum Bytes {
    /// Appends the decimal digits of `value` (a leading `-` when negative).
    @inlinable
    public static func appendDecimal(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for UInt64's 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start...]))
        }
    }

    /// Writes all of `bytes` to `fd`, again after a signal interrupts a write; false when a write fails.
    @discardableResult
    public static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = write(fd, bytes.baseAddress! + sent, bytes.count - sent)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Whether these bytes are exactly `text`'s UTF-8: one `memcmp` on the String's own storage, where
    /// comparing element by element through `String.UTF8View` costs hundreds of instructions.
    public func holds(_ text: String) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.count == count && (bytes.isEmpty || memcmp(bytes.baseAddress!, baseAddress!, count) == 0)
        } ?? text.utf8.elementsEqual(self)
    }
}
