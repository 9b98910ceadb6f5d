import Domain

/// Prepared statements (or their names) by SQL text: an open-addressing table whose hash reads the
/// text's length and three 8-byte words of it (its start, middle and end, where statements differ),
/// so that a lookup costs tens of instructions where `Hasher` over the text cost about 750. Equality
/// still compares the whole text; for a statement held in a `static let` it is the same storage, which
/// `==` sees at once.
struct StatementCache<Value> {
    private var entries: [(sql: String, value: Value)?] = Array(repeating: nil, count: 32)
    /// How many statements are cached.
    private(set) var count = 0

    /// The value cached for `sql`, or nil.
    subscript(sql: String) -> Value? {
        let mask = entries.count - 1
        var slot = Self.hash(sql) & mask
        while let entry = entries[slot] {
            if entry.sql == sql { return entry.value }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// Caches `value` for `sql`, which is not cached yet.
    mutating func insert(_ value: Value, for sql: String) {
        // At most half full, so that a probe soon meets an empty slot.
        if 2 * (count + 1) > entries.count {
            let old = entries.compactMap { $0 }
            entries = Array(repeating: nil, count: 2 * entries.count)
            count = 0
            for entry in old { insert(entry.value, for: entry.sql) }
        }
        let mask = entries.count - 1
        var slot = Self.hash(sql) & mask
        while entries[slot] != nil { slot = (slot + 1) & mask }
        entries[slot] = (sql, value)
        count += 1
    }

    /// Every cached value.
    var all: [Value] { entries.compactMap { $0?.value } }

    /// A hash of the text's length and of the words at its start, middle and end: cheap, and enough to
    /// separate statements, which differ in their column lists and their WHERE and ORDER BY clauses.
    static func hash(_ sql: String) -> Int {
        let mixed: UInt64? = sql.utf8.withContiguousStorageIfAvailable { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            let prime: UInt64 = 0x0000_0100_0000_01B3
            var hash = UInt64(raw.count) &* 0x9E37_79B9_7F4A_7C15
            if raw.count >= 8 {
                hash = (hash ^ raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) &* prime
                hash = (hash ^ raw.loadUnaligned(fromByteOffset: raw.count / 2 - 4, as: UInt64.self)) &* prime
                hash = (hash ^ raw.loadUnaligned(fromByteOffset: raw.count - 8, as: UInt64.self)) &* prime
            } else {
                for byte in raw { hash = (hash ^ UInt64(byte)) &* prime }
            }
            return hash ^ (hash >> 29)
        }
        return Int(truncatingIfNeeded: mixed ?? UInt64(sql.utf8.count))
    }
}
