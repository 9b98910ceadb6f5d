import Essentials
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// The kinds of JSON value a tape entry holds.
enum JSONKind: UInt8 {
    case object, array, string, number, bool, null

    var name: String {
        switch self {
        case .object: "object"
        case .array: "array"
        case .string: "string"
        case .number: "number"
        case .bool: "boolean"
        case .null: "null"
        }
    }
}

/// One value of a parsed line, laid out flat in document order. A container
/// is followed by its members (for objects: key, value, key, value, ...);
/// `next` skips over the whole subtree.
struct JSONTapeEntry {
    var kind: JSONKind
    /// Strings: whether the raw bytes contain escapes (so they differ from the text).
    var escaped: Bool
    /// Strings: offset of the first byte after the opening quote.
    var start: Int32
    /// Strings: raw byte length between the quotes; containers: member count.
    var length: Int32
    /// Index of the entry after this value and everything inside it.
    var next: Int32
    /// Strings: the number of Unicode scalars of the decoded text.
    var characters: Int32
}

/// Why a line could not be put on a tape.
enum JSONTapeFailure {
    case invalidJSON, invalidUTF8
    /// More values than `JSONTapeParser.maximumEntries` to record.
    case tooManyValues
}

/// Checks one line of JSON (syntax and UTF-8) and records its values on a
/// tape without building strings, so that the dataset rules can look at
/// keys and lengths at the speed of a byte scan. Reused line after line: the
/// tape keeps its capacity.
struct JSONTapeParser {
    private(set) var entries: [JSONTapeEntry] = []
    private var base = UnsafePointer<UInt8>(bitPattern: 1)!
    private var end = 0
    private var position = 0
    private var tooManyValues = false

    /// Deeper nesting is refused (it would only serve to exhaust the stack).
    static let maximumDepth = 256
    /// Values deeper than this are checked but not recorded: the dataset
    /// rules read no further than a conversation turn's members (root
    /// object 0, its members 1, turns 2, turn members 3), so the tape stays
    /// small however deep a line's other values go.
    static let recordedDepth = 3
    /// A line with more recorded values is refused rather than given a tape
    /// many times its own size.
    static let maximumEntries = 1 << 18

    /// Parses `line`, which must hold exactly one JSON value (surrounding
    /// whitespace allowed). On success `entries` describes it; string
    /// offsets are relative to `line`.
    mutating func parse(_ line: UnsafeBufferPointer<UInt8>) -> JSONTapeFailure? {
        // Keep the capacity of ordinary lines; give back what an outsized one took.
        if entries.capacity > 1 << 16 { entries = [] } else { entries.removeAll(keepingCapacity: true) }
        tooManyValues = false
        guard let start = line.baseAddress, !line.isEmpty else { return .invalidJSON }
        base = start
        end = line.count
        position = 0
        skipWhitespace()
        if value(depth: 0) {
            skipWhitespace()
            if position == end { return nil }
        }
        if tooManyValues { return .tooManyValues }
        // A reader that decodes the line before parsing it reports bad UTF-8
        // first, wherever it is; so does this one.
        return Self.isValidUTF8(line) ? .invalidJSON : .invalidUTF8
    }

    // MARK: Reading the tape

    /// The value of the last member named `key` of the object at `index` (the last, as JSON parsers keep it).
    func member(_ key: StaticKey, ofObjectAt index: Int, in line: UnsafeBufferPointer<UInt8>) -> Int? {
        var found: Int?
        var cursor = index + 1
        let stop = Int(entries[index].next)
        while cursor < stop {
            if stringEquals(at: cursor, key.bytes, in: line) { found = cursor + 1 }
            cursor = Int(entries[cursor + 1].next)
        }
        return found
    }

    /// Whether the string at `index` decodes to `text`.
    func stringEquals(at index: Int, _ text: [UInt8], in line: UnsafeBufferPointer<UInt8>) -> Bool {
        let entry = entries[index]
        if entry.escaped { return Array(decodedString(at: index, in: line).utf8) == text }
        guard Int(entry.length) == text.count else { return false }
        return text.withUnsafeBufferPointer { expected in
            memcmp(line.baseAddress! + Int(entry.start), expected.baseAddress!, text.count) == 0
        }
    }

    /// The decoded text of the string at `index` (the slow path, for escaped strings).
    func decodedString(at index: Int, in line: UnsafeBufferPointer<UInt8>) -> String {
        let entry = entries[index]
        let raw = Array(line[(Int(entry.start) - 1)...(Int(entry.start) + Int(entry.length))])
        if case .string(let text)? = try? JSONValue.parse(raw) { return text }
        return String(decoding: raw, as: UTF8.self)
    }

    // MARK: Parsing

    private mutating func skipWhitespace() {
        while position < end {
            switch base[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) -> Bool {
        guard position < end else { return false }
        switch base[position] {
        case UInt8(ascii: "{"): return container(.object, depth: depth)
        case UInt8(ascii: "["): return container(.array, depth: depth)
        case UInt8(ascii: "\""): return string(record: depth <= Self.recordedDepth)
        case UInt8(ascii: "t"): return literal("true", .bool, record: depth <= Self.recordedDepth)
        case UInt8(ascii: "f"): return literal("false", .bool, record: depth <= Self.recordedDepth)
        case UInt8(ascii: "n"): return literal("null", .null, record: depth <= Self.recordedDepth)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number(record: depth <= Self.recordedDepth)
        default: return false
        }
    }

    private mutating func append(_ kind: JSONKind) {
        entries.append(JSONTapeEntry(kind: kind, escaped: false, start: Int32(position), length: 0, next: Int32(entries.count + 1), characters: 0))
    }

    private mutating func literal(_ word: StaticString, _ kind: JSONKind, record: Bool) -> Bool {
        let count = word.utf8CodeUnitCount
        guard end - position >= count, memcmp(base + position, word.utf8Start, count) == 0 else { return false }
        if record { append(kind) }
        position += count
        return true
    }

    private mutating func container(_ kind: JSONKind, depth: Int) -> Bool {
        guard depth < Self.maximumDepth else { return false }
        let record = depth <= Self.recordedDepth
        let index = entries.count
        if record { append(kind) }
        let close = kind == .object ? UInt8(ascii: "}") : UInt8(ascii: "]")
        position += 1
        skipWhitespace()
        var members: Int32 = 0
        if position < end, base[position] == close {
            position += 1
        } else {
            while true {
                if kind == .object {
                    guard position < end, base[position] == UInt8(ascii: "\""), string(record: depth + 1 <= Self.recordedDepth) else { return false }
                    skipWhitespace()
                    guard position < end, base[position] == UInt8(ascii: ":") else { return false }
                    position += 1
                    skipWhitespace()
                }
                guard value(depth: depth + 1) else { return false }
                members += 1
                if entries.count > Self.maximumEntries {
                    tooManyValues = true
                    return false
                }
                skipWhitespace()
                guard position < end else { return false }
                if base[position] == UInt8(ascii: ",") {
                    position += 1
                    skipWhitespace()
                } else if base[position] == close {
                    position += 1
                    break
                } else {
                    return false
                }
            }
        }
        if record {
            entries[index].length = members
            entries[index].next = Int32(entries.count)
        }
        return true
    }

    private mutating func number(record: Bool) -> Bool {
        let start = position
        if base[position] == UInt8(ascii: "-") { position += 1 }
        guard position < end else { return false }
        if base[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            guard digits() else { return false }
        }
        if position < end, base[position] == UInt8(ascii: ".") {
            position += 1
            guard digits() else { return false }
        }
        if position < end, base[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < end, base[position] == UInt8(ascii: "+") || base[position] == UInt8(ascii: "-") { position += 1 }
            guard digits() else { return false }
        }
        if record {
            entries.append(
                JSONTapeEntry(
                    kind: .number, escaped: false, start: Int32(start), length: Int32(position - start), next: Int32(entries.count + 1), characters: 0
                ))
        }
        return true
    }

    /// One or more decimal digits.
    private mutating func digits() -> Bool {
        let start = position
        while position < end, base[position] &- UInt8(ascii: "0") < 10 { position += 1 }
        return position > start
    }

    /// The high bit of each byte of `word` that a string scan must look at
    /// on its own: a quote, a backslash, a control character or a byte past
    /// ASCII. The lowest set bit is exact (a borrow only flags bytes above a
    /// flagged one), so the bytes below it are plain characters.
    @inline(__always)
    private static func stops(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let control = word &- ones &* 0x20
        return ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash | control & ~word | word) & (ones &* 0x80)
    }

    /// Scans a string eight bytes at a time up to the next byte that needs a
    /// look, which is then handled alone: escapes checked, UTF-8 sequences
    /// validated and counted as one character each.
    private mutating func string(record: Bool) -> Bool {
        position += 1
        let start = position
        var characters = 0
        var escaped = false
        while true {
            while end - position >= 8 {
                let flagged = Self.stops(UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
                if flagged != 0 {
                    let clean = flagged.trailingZeroBitCount / 8
                    characters += clean
                    position += clean
                    break
                }
                characters += 8
                position += 8
            }
            guard position < end else { return false }
            let byte = base[position]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                if end - position >= 2, base[position + 1] == UInt8(ascii: "n") || base[position + 1] == UInt8(ascii: "\"") {
                    position += 2  // the common escapes, without the general check
                } else {
                    guard let width = escapeWidth() else { return false }
                    position += width
                }
                escaped = true
            } else if byte < 0x20 {
                return false
            } else if byte < 0x80 {
                position += 1
            } else {
                let width = Self.sequenceWidth(base + position, available: end - position)
                guard width > 0 else { return false }
                position += width
            }
            characters += 1
        }
        if record {
            entries.append(
                JSONTapeEntry(
                    kind: .string, escaped: escaped, start: Int32(start), length: Int32(position - start),
                    next: Int32(entries.count + 1), characters: Int32(characters)
                ))
        }
        position += 1
        return true
    }

    /// The length of the escape at `position`, or nil if it is malformed. A
    /// surrogate pair (`\ud83d\ude00`) is one escape: one character.
    private func escapeWidth() -> Int? {
        guard end - position >= 2 else { return nil }
        switch base[position + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return 2
        case UInt8(ascii: "u"):
            guard let unit = hexQuad(at: position + 2) else { return nil }
            if (0xD800..<0xDC00).contains(unit), end - position >= 12, base[position + 6] == UInt8(ascii: "\\"),
                base[position + 7] == UInt8(ascii: "u"), let low = hexQuad(at: position + 8), (0xDC00..<0xE000).contains(low)
            {
                return 12
            }
            return 6
        default:
            return nil
        }
    }

    private func hexQuad(at offset: Int) -> Int? {
        guard end - offset >= 4 else { return nil }
        var value = 0
        for index in offset..<(offset + 4) {
            guard let digit = Hex.value(of: base[index]) else { return nil }
            value = value << 4 | Int(digit)
        }
        return value
    }

    /// The width of the well-formed UTF-8 sequence starting at `bytes` (a
    /// non-ASCII lead byte), or 0 if it is malformed, overlong, a surrogate
    /// or past U+10FFFF.
    @inline(__always)
    static func sequenceWidth(_ bytes: UnsafePointer<UInt8>, available: Int) -> Int {
        @inline(__always) func continuation(_ byte: UInt8) -> Bool { byte & 0xC0 == 0x80 }
        let lead = bytes[0]
        switch lead {
        case 0xC2...0xDF:
            return available >= 2 && continuation(bytes[1]) ? 2 : 0
        case 0xE0...0xEF:
            guard available >= 3, continuation(bytes[1]), continuation(bytes[2]) else { return 0 }
            if lead == 0xE0 && bytes[1] < 0xA0 { return 0 }
            if lead == 0xED && bytes[1] >= 0xA0 { return 0 }
            return 3
        case 0xF0...0xF4:
            guard available >= 4, continuation(bytes[1]), continuation(bytes[2]), continuation(bytes[3]) else { return 0 }
            if lead == 0xF0 && bytes[1] < 0x90 { return 0 }
            if lead == 0xF4 && bytes[1] >= 0x90 { return 0 }
            return 4
        default:
            return 0
        }
    }

    /// Whether all of `bytes` is well-formed UTF-8.
    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var index = 0
        while index < bytes.count {
            if bytes.count - index >= 8, UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                index += 8
                continue
            }
            if base[index] < 0x80 {
                index += 1
                continue
            }
            let width = sequenceWidth(base + index, available: bytes.count - index)
            guard width > 0 else { return false }
            index += width
        }
        return true
    }
}

/// A key or enum word the dataset rules look for, as bytes.
struct StaticKey {
    let text: String
    let bytes: [UInt8]

    init(_ text: String) {
        self.text = text
        bytes = Array(text.utf8)
    }
}
