import Essentials

extension JSONValue {
    /// The compact UTF-8 encoding of this value.
    public func serialized() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(to: &output)
        return output
    }

    /// The compact encoding as a String.
    public var jsonText: String { String(decoding: serialized(), as: UTF8.self) }

    public func write(to output: inout [UInt8]) {
        switch self {
        case .null: Bytes.appendLiteral("null", to: &output)
        case .bool(let value): value ? Bytes.appendLiteral("true", to: &output) : Bytes.appendLiteral("false", to: &output)
        case .int(let value): Self.writeInteger(value, to: &output)
        case .double(let value):
            if !value.isFinite {
                Bytes.appendLiteral("null", to: &output)
            } else if value == value.rounded(), abs(value) < 1e15 {
                Self.writeInteger(Int64(value), to: &output)
                Bytes.appendLiteral(".0", to: &output)
            } else {
                output.append(contentsOf: value.description.utf8)
            }
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (offset, element) in elements.enumerated() {
                if offset > 0 { output.append(UInt8(ascii: ",")) }
                element.write(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let object):
            output.append(UInt8(ascii: "{"))
            for (offset, entry) in object.entries.enumerated() {
                if offset > 0 { output.append(UInt8(ascii: ",")) }
                Self.writeString(entry.key, to: &output)
                output.append(UInt8(ascii: ":"))
                entry.value.write(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `value` as a JSON string: runs of bytes that need no escape are copied whole, and found
    /// eight bytes at a time.
    public static func writeString(_ value: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            var runStart = 0
            var index = 0
            while index < bytes.count {
                if bytes.count - index >= 8,
                    !anyNeedsEscape(UnsafeRawPointer(bytes.baseAddress! + index).loadUnaligned(as: UInt64.self))
                {
                    index += 8
                    continue
                }
                let byte = bytes[index]
                index += 1
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index - 1]))
                runStart = index
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: [0x5C, 0x22])
                case UInt8(ascii: "\\"): output.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                default: output.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, Hex.digit(byte >> 4), Hex.digit(byte & 0xF)])
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Whether any of the eight bytes of `word` is a control character, `"` or `\` (the bit tricks of
    /// "has a zero byte" and "has a byte less than n", which are exact about whether there is one).
    static func anyNeedsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
        let hasControl = (word &- ones &* 0x20) & ~word & highs != 0
        return hasControl || hasZeroByte(word ^ (ones &* 0x22)) || hasZeroByte(word ^ (ones &* 0x5C))
    }

    /// Appends `hundredths / 100` with at most two decimals, as `Double.description` writes such a value
    /// (`12.5`, `0.07`, `3.0`), without the String it builds.
    public static func writeHundredths(_ hundredths: Int64, to output: inout [UInt8]) {
        if hundredths < 0 { output.append(UInt8(ascii: "-")) }
        let magnitude = hundredths.magnitude
        Bytes.appendDecimal(Int64(magnitude / 100), to: &output)
        output.append(UInt8(ascii: "."))
        let fraction = magnitude % 100
        output.append(UInt8(ascii: "0") + UInt8(fraction / 10))
        if fraction % 10 != 0 { output.append(UInt8(ascii: "0") + UInt8(fraction % 10)) }
    }

    /// Appends the decimal digits of `value`, without the String that `description` would build.
    public static func writeInteger(_ value: Int64, to output: inout [UInt8]) {
        Bytes.appendDecimal(value, to: &output)
    }
}
