import Domain

/// The whole UTC days a dashboard covers, from `from` to `to`, both included.
struct DashboardRange: Equatable {
    static let defaultDays = 30
    /// The most `to` may lie after `from`.
    static let maximumSpanDays = 366

    /// Days since 1970-01-01 (UTC) of the first and the last day.
    let firstDay: Int64
    let lastDay: Int64

    var days: Int { Int(lastDay - firstDay + 1) }
    var start: Timestamp { Timestamp(millisecondsSinceEpoch: firstDay * 86_400_000) }

    /// Reads `from`/`to` (YYYY-MM-DD, UTC). `to` defaults to today, `from`
    /// to 29 days before `to`; `from` after `to`, or `to` more than 366 days
    /// after `from`, is a 400.
    init(from fromText: String?, to toText: String?, today: Timestamp) throws(APIError) {
        let to = try Self.day(toText, name: "to") ?? Self.day(of: today)
        let from = try Self.day(fromText, name: "from") ?? to - Int64(Self.defaultDays - 1)
        guard from <= to else { throw APIError.badRequest("from must not be after to", message: "Invalid query parameter") }
        guard to - from <= Int64(Self.maximumSpanDays) else {
            throw APIError.badRequest("the range may span at most \(Self.maximumSpanDays) days", message: "Invalid query parameter")
        }
        firstDay = from
        lastDay = to
    }

    static func day(of time: Timestamp) -> Int64 {
        let millis = time.millisecondsSinceEpoch
        return millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
    }

    /// A `YYYY-MM-DD` parameter as a day number; absent → nil; anything else (empty, a time) is a 400.
    private static func day(_ text: String?, name: String) throws(APIError) -> Int64? {
        guard let text else { return nil }
        guard text.utf8.count == 10, let time = Timestamp(iso8601: text) else {
            throw APIError.badRequest("\(name) must be a date (YYYY-MM-DD)", message: "Invalid query parameter")
        }
        return day(of: time)
    }

    /// `YYYY-MM-DD` of a day number.
    static func text(ofDay day: Int64) -> String {
        String(Timestamp(millisecondsSinceEpoch: day * 86_400_000).iso8601.prefix(10))
    }
}
