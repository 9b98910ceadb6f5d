import Domain

/// Scopes are stored as a comma-separated list (`training,analytics`).
enum ScopeList {
    static func encode(_ scopes: [Scope]) -> String {
        scopes.map(\.rawValue).joined(separator: ",")
    }

    static func decode(_ text: String) -> [Scope] {
        var text = text
        return text.withUTF8 { decode(utf8: $0) }
    }

    /// The scopes named in `list`'s bytes (as a database returns them); unknown names are skipped.
    static func decode(utf8 list: UnsafeBufferPointer<UInt8>) -> [Scope] {
        list.split(separator: UInt8(ascii: ",")).compactMap { name in
            Scope(rawValue: String(decoding: name.filter { $0 != UInt8(ascii: " ") }, as: UTF8.self))
        }
    }
}
