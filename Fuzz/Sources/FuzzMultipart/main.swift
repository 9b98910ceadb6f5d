import FuzzSupport

// The multipart/form-data parser (dataset uploads and `validate`).
//
// Input: one byte of options, then
// - raw (options even): a Content-Type line and a body. Never crashes, and the
//   parts (and whether it fails or completes) do not depend on how the body
//   is cut into feeds.
// - built (options odd): parts separated by 0x00, each a name, 0x01 and the
//   content. They are encoded as a body, which must parse back into exactly
//   those parts, however it is cut.
@testable import API

/// What the parser reported, with adjacent data joined so that feeds do not show.
enum Event: Equatable {
    case started(name: String, filename: String?)
    case data([UInt8])
    case ended
    case failed
}

func parse(_ body: [UInt8], contentType: String, ranges: [Range<Int>]) -> (events: [Event], complete: Bool)? {
    guard var parser = MultipartParser(contentType: contentType) else { return nil }
    var events: [Event] = []
    do {
        for range in ranges {
            try body[range].withUnsafeBytes { chunk in
                try parser.feed(chunk) { event in
                    switch event {
                    case .partStarted(let name, let filename): events.append(.started(name: name, filename: filename))
                    case .data(let bytes):
                        require(!bytes.isEmpty, "an empty data event")
                        if case .data(let earlier)? = events.last {
                            events[events.count - 1] = .data(earlier + bytes)
                        } else {
                            events.append(.data(Array(bytes)))
                        }
                    case .partEnded: events.append(.ended)
                    }
                }
            }
        }
    } catch {
        events.append(.failed)
    }
    return (events, parser.isComplete)
}

func checkRaw(_ input: ArraySlice<UInt8>, seed: UInt64, maxChunk: Int) {
    let newline = input.firstIndex(of: 0x0A) ?? input.endIndex
    let contentType = String(decoding: input[..<newline], as: UTF8.self)
    let body = Array(input[newline...].dropFirst())
    guard let whole = parse(body, contentType: contentType, ranges: body.isEmpty ? [] : [0..<body.count]) else { return }
    let cut = parse(body, contentType: contentType, ranges: chunkRanges(count: body.count, seed: seed, maxChunk: maxChunk))
    require(cut?.events == whole.events, "the parts depend on the feeds")
    require(cut?.complete == whole.complete, "completion depends on the feeds")
    let content = whole.events.reduce(0) { total, event in if case .data(let bytes) = event { total + bytes.count } else { total } }
    require(content <= body.count, "more content than body")
}

func checkBuilt(_ input: ArraySlice<UInt8>, seed: UInt64, maxChunk: Int) {
    let boundary = "fuzz-\(seed % 1000)-boundary"
    let delimiter = Array("\r\n--\(boundary)".utf8)
    var parts: [(name: String, content: [UInt8])] = []
    for piece in pieces(input, separator: 0x00) {
        let split = piece.firstIndex(of: 0x01) ?? piece.endIndex
        // Names from a safe alphabet: quoting and escaping are not what this checks.
        let name = String(decoding: piece[..<split].map { UInt8(ascii: "a") + $0 % 26 }, as: UTF8.self)
        let content = Array(piece[split...].dropFirst())
        guard !content.contains(delimiter) else { return }  // could not be sent with this boundary
        parts.append((name, content))
    }
    var body: [UInt8] = []
    for part in parts {
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\"\r\n\r\n".utf8)
        body += part.content
        body += Array("\r\n".utf8)
    }
    body += Array("--\(boundary)--\r\n".utf8)
    var expected: [Event] = []
    for part in parts {
        expected.append(.started(name: part.name, filename: nil))
        if !part.content.isEmpty { expected.append(.data(part.content)) }
        expected.append(.ended)
    }
    let contentType = "multipart/form-data; boundary=\"\(boundary)\""
    for ranges in [[0..<body.count], chunkRanges(count: body.count, seed: seed, maxChunk: maxChunk)] {
        let parsed = parse(body, contentType: contentType, ranges: ranges)
        require(parsed?.events == expected, "the parts did not survive: \(parsed?.events.count ?? -1) events for \(parts.count) parts")
        require(parsed?.complete == true, "the closing delimiter was not seen")
    }
}

fuzz { input in
    guard let options = input.first else { return }
    let rest = input.dropFirst()
    let seed = UInt64(options) &* 31 &+ UInt64(input.count)
    let maxChunk = 1 + Int(options >> 4) * 8
    if options & 1 == 0 {
        checkRaw(rest, seed: seed, maxChunk: maxChunk)
    } else {
        checkBuilt(rest, seed: seed, maxChunk: maxChunk)
    }
}
