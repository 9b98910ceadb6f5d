import Crypto
import JSON

/// The errors a job's log lines show, as FineTune Lab's SDK reads them (`get_errors`):
/// deduplicated error and warning lines with counts, newest first, and the last Python traceback.
struct LogErrorReport {
    struct Entry {
        var timestamp: String
        var level: String
        var phase: String
        var message: String
        var dedupeKey: String
        var count: Int
        /// Where the entry last occurred, for the newest-first order.
        var lastLine: Int
    }

    struct Frame {
        var file: String
        var line: Int64?
        var function: String
        var code: String?
    }

    struct Traceback {
        var raw: String
        var frames: [Frame]
        var exceptionType: String?
        var exceptionMessage: String?
    }

    private(set) var entries: [Entry] = []
    private(set) var occurrences = 0
    private(set) var traceback: Traceback?

    /// Reads `lines`, oldest first.
    init(lines: [String]) {
        var byKey: [String: Int] = [:]
        for (index, line) in lines.enumerated() {
            guard let (timestamp, level, phase, message) = Self.error(in: line) else { continue }
            occurrences += 1
            let key = Self.dedupeKey(phase: phase, message: message)
            if let existing = byKey[key] {
                entries[existing].count += 1
                entries[existing].lastLine = index
                // An entry shows its newest occurrence (the messages differ in their digits at most).
                entries[existing].timestamp = timestamp
                entries[existing].message = message
            } else {
                byKey[key] = entries.count
                entries.append(
                    Entry(timestamp: timestamp, level: level, phase: phase, message: message, dedupeKey: key, count: 1, lastLine: index))
            }
        }
        entries.sort { $0.lastLine > $1.lastLine }
        if let start = lines.lastIndex(where: { $0.contains(Self.tracebackHeader) }) {
            traceback = Self.traceback(lines[start...])
        }
    }

    static let tracebackHeader = "Traceback (most recent call last):"

    /// The fields of the response that come from the lines.
    var json: JSONObject {
        JSONObject([
            (
                "errors",
                .array(
                    entries.map { entry in
                        .object([
                            "timestamp": .string(entry.timestamp), "level": .string(entry.level), "phase": .string(entry.phase),
                            "message": .string(entry.message), "dedupe_key": .string(entry.dedupeKey), "count": .int(entry.count),
                        ])
                    })
            ),
            ("traceback", traceback.map(Self.json) ?? .null), ("error_count", .int(occurrences)), ("unique_error_count", .int(entries.count)),
        ])
    }

    private static func json(_ traceback: Traceback) -> JSONValue {
        .object([
            "raw": .string(traceback.raw),
            "frames": .array(
                traceback.frames.map { frame in
                    .object([
                        "file": .string(frame.file), "line": .int(frame.line), "function": .string(frame.function), "code": .string(frame.code),
                    ])
                }),
            "exception_type": .string(traceback.exceptionType), "exception_message": .string(traceback.exceptionMessage),
        ])
    }

    /// The error a line reports, if it reports one: a structured line
    /// `[YYYY-MM-DD HH:MM:SS] [MODULE] [LEVEL] [PHASE] message` at level error or warning (phase
    /// `general` when absent), or else a line that starts with `ERROR:` or contains `Error:` (phase `raw`).
    static func error(in line: String) -> (timestamp: String, level: String, phase: String, message: String)? {
        if let structured = structured(line) {
            let level = structured.level.lowercased()
            guard level == "error" || level == "warning" else { return nil }
            return (structured.timestamp, level, structured.phase ?? "general", structured.message)
        }
        guard line.hasPrefix("ERROR:") || line.contains("Error:") else { return nil }
        return ("", "error", "raw", line.trimmingSpaces())
    }

    /// The parts of `[timestamp] [module] [level] [phase]? message`, or nil when the line has another shape.
    static func structured(_ line: String) -> (timestamp: String, level: String, phase: String?, message: String)? {
        var rest = Substring(line)
        func bracketed() -> String? {
            rest = rest.drop { $0 == " " }
            guard rest.first == "[", let close = rest.firstIndex(of: "]") else { return nil }
            let inner = rest[rest.index(after: rest.startIndex)..<close]
            rest = rest[rest.index(after: close)...]
            return String(inner)
        }
        guard let timestamp = bracketed(), isTimestamp(timestamp), bracketed() != nil, let level = bracketed() else { return nil }
        let beforePhase = rest
        var phase = bracketed()
        if phase == nil { rest = beforePhase }
        if phase?.isEmpty == true { phase = nil }
        return (timestamp, level, phase, String(rest).trimmingSpaces())
    }

    /// `YYYY-MM-DD HH:MM:SS`
    private static func isTimestamp(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 19 else { return false }
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 4, 7: guard byte == UInt8(ascii: "-") else { return false }
            case 10: guard byte == UInt8(ascii: " ") else { return false }
            case 13, 16: guard byte == UInt8(ascii: ":") else { return false }
            default: guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return false }
            }
        }
        return true
    }

    /// The first 12 hex digits of md5(lower(phase + ":" + the message's first 150 characters, each run of digits in them as `N`)).
    static func dedupeKey(phase: String, message: String) -> String {
        var normalized = String.UnicodeScalarView()
        var inDigits = false
        for scalar in message.unicodeScalars.prefix(150) {
            if ("0"..."9").contains(scalar) {
                if !inDigits { normalized.append("N") }
                inDigits = true
            } else {
                normalized.append(scalar)
                inDigits = false
            }
        }
        let text = (phase + ":" + String(normalized)).lowercased()
        let digest = Insecure.MD5.hash(data: Array(text.utf8))
        return String(digest.map { byte in String(byte, radix: 16).leftPadded(to: 2) }.joined().prefix(12))
    }

    /// The traceback that starts at the first of `lines`: its `File "…", line N, in f` frames with the code line under each,
    /// up to the exception line (the first unindented line after the header).
    static func traceback(_ lines: ArraySlice<String>) -> Traceback {
        var raw: [String] = []
        var frames: [Frame] = []
        var exceptionLine: String?
        for (offset, line) in lines.enumerated() {
            raw.append(line)
            if offset == 0 { continue }
            let trimmed = line.trimmingSpaces()
            if trimmed.hasPrefix("File \"") {
                frames.append(frame(trimmed))
            } else if line.first == " " || line.first == "\t" {
                if !frames.isEmpty, frames[frames.count - 1].code == nil, !trimmed.isEmpty { frames[frames.count - 1].code = trimmed }
            } else if !trimmed.isEmpty {
                exceptionLine = trimmed
                break
            }
        }
        var traceback = Traceback(raw: raw.joined(separator: "\n"), frames: frames)
        if let exceptionLine {
            if let colon = exceptionLine.firstRange(of: ": ") {
                traceback.exceptionType = String(exceptionLine[..<colon.lowerBound])
                traceback.exceptionMessage = String(exceptionLine[colon.upperBound...])
            } else {
                traceback.exceptionType = exceptionLine.hasSuffix(":") ? String(exceptionLine.dropLast()) : exceptionLine
                traceback.exceptionMessage = ""
            }
        }
        return traceback
    }

    /// `File "train.py", line 42, in main`
    private static func frame(_ line: String) -> Frame {
        var rest = line.dropFirst("File \"".count)
        let file = rest.prefix { $0 != "\"" }
        rest = rest.dropFirst(file.count + 1)
        var number: Int64?
        var function = ""
        if let lineRange = rest.firstRange(of: ", line ") {
            let digits = rest[lineRange.upperBound...].prefix { $0.isASCII && $0.isNumber }
            number = Int64(digits)
            rest = rest[lineRange.upperBound...].dropFirst(digits.count)
        }
        if let inRange = rest.firstRange(of: ", in ") { function = String(rest[inRange.upperBound...]) }
        return Frame(file: String(file), line: number, function: function)
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }), let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(scalars[first...last])
    }

    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
