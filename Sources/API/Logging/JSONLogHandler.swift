import Domain
import Essentials
import JSON
public import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Writes each log event as one JSON line to stderr (one `write` per line,
/// so lines from threads and worker processes never interleave):
/// `{"ts":"…","level":"info","msg":"request","request.id":"…",…}`.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = Self.lineHead(level: event.level.rawValue, message: event.message.description, logger: label)
        func append(_ key: String, _ value: Logger.Metadata.Value) {
            line.append(UInt8(ascii: ","))
            JSONValue.writeString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            Self.json(value).write(to: &line)
        }
        for (key, value) in metadata where event.metadata?[key] == nil { append(key, value) }
        if let extra = event.metadata {
            for (key, value) in extra.sorted(by: { $0.key < $1.key }) { append(key, value) }
        }
        Bytes.appendLiteral("}\n", to: &line)
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// `{"ts":"…","level":"…","msg":"…","logger":"…"`: the start every log line shares; fields and `}\n` follow.
    static func lineHead(level: String, message: String, logger: String) -> [UInt8] {
        var line = lineStart()
        Bytes.appendLiteral(#"","level":"#, to: &line)
        JSONValue.writeString(level, to: &line)
        Bytes.appendLiteral(#","msg":"#, to: &line)
        JSONValue.writeString(message, to: &line)
        Bytes.appendLiteral(#","logger":"#, to: &line)
        JSONValue.writeString(logger, to: &line)
        return line
    }

    /// The same start for a line whose level, message and logger never change, given as the JSON that
    /// follows the timestamp (`","level":"info",…`): nothing to escape per line.
    static func lineHead(fixed: StaticString) -> [UInt8] {
        var line = lineStart()
        Bytes.appendLiteral(fixed, to: &line)
        return line
    }

    /// `{"ts":"…` up to the timestamp's closing quote.
    private static func lineStart() -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(320)
        Bytes.appendLiteral(#"{"ts":""#, to: &line)
        Timestamp.now().appendISO8601(to: &line)
        return line
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text):
            if let number = Int64(text), String(number) == text { return .int(number) }
            return .string(text)
        case .stringConvertible(let convertible): return .string(convertible.description)
        case .array(let values): return .array(values.map(json))
        case .dictionary(let dictionary): return .object(JSONObject(dictionary.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) }))
        }
    }
}
