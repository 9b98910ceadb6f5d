/// A JSON document: parsed from request bodies with exact error positions,
/// and built by handlers for responses (object keys keep their order).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer literal that fits in 64 bits.
    case int(Int64)
    /// Any other number; always finite.
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// Shorthand for building an object from ordered pairs.
    public static func object(_ pairs: KeyValuePairs<String, JSONValue>) -> JSONValue {
        .object(JSONObject(pairs.map { ($0.key, $0.value) }))
    }

    public static func string(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
    public static func int(_ value: Int) -> JSONValue { .int(Int64(value)) }
    public static func int(_ value: Int64?) -> JSONValue { value.map { .int($0) } ?? .null }
    public static func double(_ value: Double?) -> JSONValue {
        guard let value, value.isFinite else { return .null }
        return .double(value)
    }

    /// The name of the JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// A JSON object that keeps its keys in insertion order.
public struct JSONObject: Sendable, Equatable {
    public private(set) var entries: [(key: String, value: JSONValue)]

    public init(_ entries: [(String, JSONValue)] = []) {
        self.entries = entries.map { (key: $0.0, value: $0.1) }
    }

    public subscript(key: String) -> JSONValue? {
        get { entries.first { $0.key == key }?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key: key, value: newValue))
            }
        }
    }

    public var keys: [String] { entries.map(\.key) }

    /// Adds an entry whose key the object does not hold yet (the caller has made sure of it).
    mutating func append(key: String, value: JSONValue) {
        entries.append((key: key, value: value))
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.entries.count == rhs.entries.count && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}
