import Essentials

#if canImport(Glibc)
import Glibc
#endif

/// Splits a `multipart/form-data` body into its parts as the bytes arrive,
/// so a file part can be validated and stored without holding it in memory.
/// Holds back at most one delimiter's length of a part between feeds.
struct MultipartParser {
    enum Event {
        /// A part begins; `name` and `filename` come from its Content-Disposition.
        case partStarted(name: String, filename: String?)
        /// Bytes of the current part's content.
        case data(UnsafeRawBufferPointer)
        case partEnded
    }

    enum Failure: Error {
        case malformed(String)
    }

    private enum State {
        case preamble, afterDelimiter, headers, content, done
    }

    /// `\r\n--boundary`: what precedes every part and the end.
    private let delimiter: [UInt8]
    /// Longest part head accepted.
    private static let maximumHeaderBytes = 16 * 1024
    private var state = State.preamble
    /// Unprocessed bytes; starts with a CRLF so the first delimiter looks like the others.
    private var carry: [UInt8] = [0x0D, 0x0A]

    /// The parser for a `multipart/form-data; boundary=...` content type, or nil if it is not one.
    init?(contentType: String) {
        let parameters = contentType.split(separator: ";").map { $0.trimmingWhitespace() }
        guard parameters.first?.lowercased() == "multipart/form-data" else { return nil }
        for parameter in parameters.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            var boundary = pair[1]
            if boundary.count >= 2, boundary.hasPrefix("\""), boundary.hasSuffix("\"") { boundary = String(boundary.dropFirst().dropLast()) }
            guard (1...70).contains(boundary.utf8.count) else { return nil }
            delimiter = Array("\r\n--\(boundary)".utf8)
            return
        }
        return nil
    }

    /// Whether the closing delimiter has been seen.
    var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    mutating func feed(_ chunk: UnsafeRawBufferPointer, _ handle: (Event) throws -> Void) throws {
        guard !isComplete else { return }
        var buffer: [UInt8] = []
        swap(&buffer, &carry)
        buffer.append(contentsOf: chunk)
        let consumed = try buffer.withUnsafeBytes { try process($0, handle) }
        buffer.removeFirst(consumed)
        carry = buffer
    }

    /// Processes what it can of `bytes`; returns how many were used up.
    private mutating func process(_ bytes: UnsafeRawBufferPointer, _ handle: (Event) throws -> Void) throws -> Int {
        var position = 0
        while true {
            switch state {
            case .done:
                return bytes.count
            case .preamble:
                guard let found = find(delimiter, in: bytes, from: position) else {
                    return max(position, bytes.count - delimiter.count + 1)
                }
                position = found + delimiter.count
                state = .afterDelimiter
            case .afterDelimiter:
                guard bytes.count - position >= 2 else { return position }
                if bytes[position] == UInt8(ascii: "-") && bytes[position + 1] == UInt8(ascii: "-") {
                    state = .done
                    return bytes.count
                }
                // Transport padding (spaces, tabs) may follow the boundary before its CRLF.
                var cursor = position
                while cursor < bytes.count, bytes[cursor] == 0x20 || bytes[cursor] == 0x09 { cursor += 1 }
                guard bytes.count - cursor >= 2 else { return position }
                guard bytes[cursor] == 0x0D, bytes[cursor + 1] == 0x0A else { throw Failure.malformed("a boundary line is not followed by CRLF") }
                position = cursor + 2
                state = .headers
            case .headers:
                guard bytes.count - position >= 2 else { return position }
                if bytes[position] == 0x0D, bytes[position + 1] == 0x0A {
                    // An empty head: the blank line right away.
                    position += 2
                    try handle(.partStarted(name: "", filename: nil))
                    state = .content
                    continue
                }
                guard let end = find(Array("\r\n\r\n".utf8), in: bytes, from: position) else {
                    if bytes.count - position > Self.maximumHeaderBytes { throw Failure.malformed("a part's headers are too long") }
                    return position
                }
                let head = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<end]), as: UTF8.self)
                let (name, filename) = Self.disposition(in: head)
                try handle(.partStarted(name: name ?? "", filename: filename))
                position = end + 4
                state = .content
            case .content:
                if let found = find(delimiter, in: bytes, from: position) {
                    if found > position { try handle(.data(UnsafeRawBufferPointer(rebasing: bytes[position..<found]))) }
                    try handle(.partEnded)
                    position = found + delimiter.count
                    state = .afterDelimiter
                } else {
                    // Keep back what could be the start of a delimiter cut by the chunk's end.
                    let safe = max(position, bytes.count - delimiter.count + 1)
                    if safe > position { try handle(.data(UnsafeRawBufferPointer(rebasing: bytes[position..<safe]))) }
                    return safe
                }
            }
        }
    }

    /// The first occurrence of `needle` in `bytes` at or after `start`.
    private func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = bytes.baseAddress, bytes.count - start >= needle.count else { return nil }
        var position = start
        let last = bytes.count - needle.count
        return needle.withUnsafeBytes { pattern -> Int? in
            while position <= last {
                guard let hit = memchr(base + position, Int32(needle[0]), last - position + 1) else { return nil }
                let offset = UnsafeRawPointer(hit) - base
                if memcmp(base + offset, pattern.baseAddress!, needle.count) == 0 { return offset }
                position = offset + 1
            }
            return nil
        }
    }

    /// `name` and `filename` of a part's `Content-Disposition: form-data; name="..."; filename="..."`.
    static func disposition(in head: String) -> (name: String?, filename: String?) {
        for line in head.split(separator: "\r\n") {
            let pair = line.split(separator: ":", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingWhitespace().lowercased() == "content-disposition" else { continue }
            var name: String?
            var filename: String?
            for parameter in pair[1].split(separator: ";").dropFirst() {
                let keyValue = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
                guard keyValue.count == 2 else { continue }
                var value = keyValue[1]
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
                switch keyValue[0].lowercased() {
                case "name": name = value
                case "filename": filename = value
                default: break
                }
            }
            return (name, filename)
        }
        return (nil, nil)
    }
}
