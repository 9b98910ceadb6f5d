/// Scopes are stored as a comma-separated list (`training,analytics`).
enum ScopeList {
    static func encode(_ scopes: [Scope]) -> String {
        scopes.map(\.rawValue).joined(separator: ",")
    }

    static func decode(_ text: String) -> [Scope] {
        text.utf8.split(separator: UInt8(ascii: ",")).compactMap { name in
            Scope(rawValue: String(decoding: name.filter { $0 != UInt8(ascii: " ") }, as: UTF8.self))
        }
    }
}
