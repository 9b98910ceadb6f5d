/// Request header fields, looked up case-insensitively.
///
/// FastCGI hands headers over as `HTTP_*` params; they are stored here with
/// lowercase, dash-separated names (`HTTP_X_API_KEY` → `x-api-key`). A request
/// carries a handful, so they are kept in arrival order and found by a linear
/// scan: a hash table cost a hash of every name on the way in (~200
/// instructions each) and of every name looked up.
public struct HeaderFields: Sendable {
    private var names: [String] = []
    private var values: [String] = []

    public init(_ fields: [String: String] = [:]) {
        for (name, value) in fields { self[name] = value }
    }

    /// Takes names that are already lowercase, each once, as they are.
    public init(lowercasedNames fields: [(name: String, value: String)]) {
        names.reserveCapacity(fields.count)
        values.reserveCapacity(fields.count)
        for (name, value) in fields {
            names.append(name)
            values.append(value)
        }
    }

    /// The value of the header `name` (any case), or nil; setting nil removes it.
    public subscript(name: String) -> String? {
        get { Self.index(of: Self.lowercased(name), in: names).map { values[$0] } }
        set {
            let name = Self.lowercased(name)
            switch (Self.index(of: name, in: names), newValue) {
            case (let index?, let value?): values[index] = value
            case (let index?, nil):
                names.remove(at: index)
                values.remove(at: index)
            case (nil, let value?):
                names.append(name)
                values.append(value)
            case (nil, nil): break
            }
        }
    }

    /// Where `name` (lowercase) is in `names`.
    static func index(of name: String, in names: [String]) -> Int? {
        names.firstIndex(of: name)
    }

    /// Header names are ASCII; lowercase without allocating when already lowercase. The check runs over
    /// the String's own bytes: through `String.UTF8View` it cost ~350 instructions a lookup.
    private static func lowercased(_ name: String) -> String {
        var bytes = name
        let hasUppercase = bytes.withUTF8 { $0.contains { $0 >= 65 && $0 <= 90 } }
        return hasUppercase ? name.lowercased() : name
    }

    /// Every field, by lowercase name.
    public var all: [String: String] { Dictionary(zip(names, values), uniquingKeysWith: { _, last in last }) }
}
