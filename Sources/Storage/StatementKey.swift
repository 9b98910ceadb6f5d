/// A statement's SQL as a cache key. Hashing the whole text, as `String`
/// does, costs about 900 instructions for a typical statement on every
/// lookup; this hashes its length and both ends, where statements differ
/// (the column list, the WHERE and ORDER BY), and equality still compares
/// the whole text.
struct StatementKey: Hashable {
    let sql: String

    init(_ sql: String) { self.sql = sql }

    func hash(into hasher: inout Hasher) {
        var sql = sql
        sql.withUTF8 { bytes in
            hasher.combine(bytes.count)
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes.prefix(24))))
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes.suffix(24))))
        }
    }
}
