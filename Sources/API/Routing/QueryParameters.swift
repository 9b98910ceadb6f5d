import HTTPCore

/// The decoded parameters of a query string (`a=1&b=x%20y`).
public struct QueryParameters: Sendable {
    private var values: [String: String] = [:]

    public init(_ query: String) {
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            if values[name] == nil { values[name] = value }
        }
    }

    public subscript(name: String) -> String? { values[name] }

    /// An integer parameter within `range`; absent → nil; anything else → 400 naming it.
    public func integer(_ name: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let text = values[name] else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw APIError.badRequest(
                "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)", message: "Invalid query parameter")
        }
        return value
    }

    private static func decode(_ text: Substring) -> String {
        String(text).replacingPlus().removingPercentEncodingLeniently()
    }
}

extension String {
    fileprivate func replacingPlus() -> String {
        contains("+") ? String(map { $0 == "+" ? " " : $0 }) : self
    }
}
