public import JSON

/// Reads the fields of a JSON object with messages that name the field.
public struct FieldReader {
    public let object: JSONObject

    public init(_ object: JSONObject) { self.object = object }

    /// Refuses any field not in `known`.
    public func rejectUnknown(_ known: Set<String>) throws(APIError) {
        if let unknown = object.keys.first(where: { !known.contains($0) }) {
            throw APIError.badRequest("unknown field \(unknown)")
        }
    }

    public func string(_ name: String, required: Bool, length: ClosedRange<Int>) throws(APIError) -> String? {
        switch object[name] {
        case nil, .null?:
            if required { throw APIError.badRequest("\(name) is required") }
            return nil
        case .string(let text)?:
            guard length.contains(text.count) else {
                throw APIError.badRequest("\(name) must be \(length.lowerBound) to \(length.upperBound) characters")
            }
            return text
        case let other?:
            throw APIError.badRequest("\(name) must be a string, not \(other.typeName)")
        }
    }

    public func stringArray(_ name: String) throws(APIError) -> [String]? {
        switch object[name] {
        case nil, .null?:
            return nil
        case .array(let elements)?:
            var strings: [String] = []
            for (index, element) in elements.enumerated() {
                guard case .string(let text) = element else {
                    throw APIError.badRequest("\(name)[\(index)] must be a string, not \(element.typeName)")
                }
                strings.append(text)
            }
            return strings
        case let other?:
            throw APIError.badRequest("\(name) must be an array of strings, not \(other.typeName)")
        }
    }

    /// An integer field within `range` (a JSON number with no fraction).
    public func integer(_ name: String, in range: ClosedRange<Int64>) throws(APIError) -> Int64? {
        switch object[name] {
        case nil, .null?:
            return nil
        case .int(let value)?:
            guard range.contains(value) else { throw APIError.badRequest("\(name) must be from \(range.lowerBound) to \(range.upperBound)") }
            return value
        case .double(let value)? where value == value.rounded() && abs(value) < 9e15:
            guard range.contains(Int64(value)) else { throw APIError.badRequest("\(name) must be from \(range.lowerBound) to \(range.upperBound)") }
            return Int64(value)
        case let other?:
            throw APIError.badRequest("\(name) must be an integer, not \(other.typeName == "number" ? "a fraction" : other.typeName)")
        }
    }

    /// A finite number within `range`.
    public func number(_ name: String, in range: ClosedRange<Double>) throws(APIError) -> Double? {
        let value: Double
        switch object[name] {
        case nil, .null?: return nil
        case .int(let number)?: value = Double(number)
        case .double(let number)?: value = number
        case let other?: throw APIError.badRequest("\(name) must be a number, not \(other.typeName)")
        }
        guard value.isFinite, range.contains(value) else {
            throw APIError.badRequest("\(name) must be from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A JSON object field.
    public func object(_ name: String) throws(APIError) -> JSONObject? {
        switch object[name] {
        case nil, .null?: return nil
        case .object(let value)?: return value
        case let other?: throw APIError.badRequest("\(name) must be an object, not \(other.typeName)")
        }
    }

    /// Whether the body names `name` at all (even as null).
    public func has(_ name: String) -> Bool { object[name] != nil }

    /// Refuses text with control characters (NUL, CR, LF, tab and the rest of C0, DEL, C1): a name
    /// is shown in headers, logs and lists, where they would split or hide it.
    public static func refuseControlCharacters(_ text: String, field: String) throws(APIError) {
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            throw APIError.badRequest("\(field) must not contain control characters")
        }
    }
}
