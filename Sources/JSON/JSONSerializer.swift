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

    /// Appends `value` as a JSON string: runs of bytes that need no escape are copied whole.
    public static func writeString(_ value: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            var runStart = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                runStart = index + 1
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

    /// Appends the decimal digits of `value`, without the String that `description` would build.
    public static func writeInteger(_ value: Int64, to output: inout [UInt8]) {
        Bytes.appendDecimal(value, to: &output)
    }
}
