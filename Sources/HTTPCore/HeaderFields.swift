/// Request header fields, looked up case-insensitively.
///
/// FastCGI hands headers over as `HTTP_*` params; they are stored here with
/// lowercase, dash-separated names (`HTTP_X_API_KEY` → `x-api-key`). A request
/// carries a handful, so they are kept in arrival order and found by a linear
/// scan: a hash table cost a hash of every name on the way in (~200
/// instructions each) and of every name looked up.
public struct HeaderFields: Sendable {
    private var fields: [(name: String, value: String)] = []

    public init(_ fields: [String: String] = [:]) {
        for (name, value) in fields { self[name] = value }
    }

    /// Takes names that are already lowercase, each once, as they are.
    public init(lowercasedNames fields: [(name: String, value: String)]) {
        self.fields = fields
    }

    /// The value of the header `name` (any case), or nil; setting nil removes it.
    public subscript(name: String) -> String? {
        get {
            let name = Self.lowercased(name)
            return fields.first { $0.name == name }?.value
        }
        set {
            let name = Self.lowercased(name)
            switch (fields.firstIndex { $0.name == name }, newValue) {
            case (let index?, let value?): fields[index].value = value
            case (let index?, nil): fields.remove(at: index)
            case (nil, let value?): fields.append((name, value))
            case (nil, nil): break
            }
        }
    }

    /// Header names are ASCII; lowercase without allocating when already lowercase. The check runs over
    /// the String's own bytes: through `String.UTF8View` it cost ~350 instructions a lookup.
    private static func lowercased(_ name: String) -> String {
        var bytes = name
        let hasUppercase = bytes.withUTF8 { $0.contains { $0 >= 65 && $0 <= 90 } }
        return hasUppercase ? name.lowercased() : name
    }

    /// Every field, by lowercase name.
    public var all: [String: String] { Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last }) }
}
