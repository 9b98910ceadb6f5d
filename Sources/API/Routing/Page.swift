/// `limit` and `offset` of a list request.
public struct Page: Sendable, Equatable {
    public var limit: Int
    public var offset: Int

    public static let defaultLimit = 50
    public static let maximumLimit = 200
    /// The largest `offset` a list takes; more is a 400.
    public static let maximumOffset = Int64(Int32.max)

    /// Reads `limit` (default 50, 1–200) and `offset` (default 0, ≥ 0); out of range is a 400.
    public init(query: QueryParameters, defaultLimit: Int = Page.defaultLimit, maximumLimit: Int = Page.maximumLimit) throws(APIError) {
        limit = try query.integer("limit", in: 1...maximumLimit) ?? defaultLimit
        offset = try query.integer("offset", in: 0...Int(Self.maximumOffset)) ?? 0
    }
}
