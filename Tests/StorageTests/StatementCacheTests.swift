import Domain
import Testing

@testable import Storage

@Suite("statement cache")
struct StatementCacheTests {
    /// Statements that the hash can't tell apart (same length, same start, middle and end) still get their own
    /// values; the table grows past its first 32 slots; short texts, and texts built at run time, are found.
    @Test func everyStatementFindsItsOwnValue() {
        var cache = StatementCache<Int>()
        let lookalikes = (0..<10).map { "SELECT a\($0)b FROM t WHERE x = ? AND yyyyyyyyyyyyyyyyyyyyyyyyy = ? ORDER BY id" }
        #expect(Set(lookalikes.map { StatementCache<Int>.hash($0) }).count < lookalikes.count, "they share hashes")
        let statements = lookalikes + (0..<90).map { "SELECT \($0) FROM t" } + ["BEGIN", "COMMIT", ""]
        for (index, sql) in statements.enumerated() {
            #expect(cache[sql] == nil)
            cache.insert(index, for: sql)
        }
        #expect(cache.count == statements.count)
        for (index, sql) in statements.enumerated() {
            #expect(cache[String(decoding: Array(sql.utf8), as: UTF8.self)] == index, "\(sql)")
        }
        #expect(cache["SELECT 90 FROM t"] == nil)
        #expect(cache.all.sorted() == Array(statements.indices))
    }
}
