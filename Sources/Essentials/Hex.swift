/// Hexadecimal digits: the one encoder and decoder of the product.
public enum Hex {
    /// The value of one hex digit (either case), or nil.
    @inlinable
    public static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }

    /// The value of `count` hex digits starting at `offset`, or nil when one is not a digit or the bytes run out.
    public static func value(of bytes: UnsafeBufferPointer<UInt8>, at offset: Int, count: Int) -> UInt32? {
        guard offset >= 0, bytes.count - offset >= count else { return nil }
        var value: UInt32 = 0
        for index in offset..<(offset + count) {
            guard let digit = Hex.value(of: bytes[index]) else { return nil }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// The digits `0-9a-f` (or `A-F` when `uppercase`) for a value below 16.
    @inlinable
    public static func digit(_ nibble: UInt8, uppercase: Bool = false) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : (uppercase ? UInt8(ascii: "A") : UInt8(ascii: "a")) &+ nibble &- 10
    }

    /// Lowercase hex of `bytes` (two digits a byte). Inlinable: callers on the request path
    /// (key and token hashes) get it specialized for their digest type.
    @inlinable
    public static func encode(_ bytes: some Sequence<UInt8>, uppercase: Bool = false) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            output.append(digit(byte >> 4, uppercase: uppercase))
            output.append(digit(byte & 0x0F, uppercase: uppercase))
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Lowercase hex of the bytes in `bytes`, written straight into the String's storage.
    public static func encode(_ bytes: UnsafeRawBufferPointer, uppercase: Bool = false) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { output in
            for (index, byte) in bytes.enumerated() {
                output[2 * index] = digit(byte >> 4, uppercase: uppercase)
                output[2 * index + 1] = digit(byte & 0x0F, uppercase: uppercase)
            }
            return bytes.count * 2
        }
    }

    /// The low `digits` hex digits of `value`, most significant first (fixed width, lowercase).
    @inlinable
    public static func encode(_ value: UInt64, digits: Int) -> String {
        String(unsafeUninitializedCapacity: digits) { buffer in
            for index in 0..<digits { buffer[index] = digit(UInt8(value >> UInt64(4 * (digits - 1 - index)) & 0xF)) }
            return digits
        }
    }
}
