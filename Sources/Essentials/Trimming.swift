extension StringProtocol {
    /// The text without leading and trailing whitespace (spaces, tabs, line ends and other Unicode white space).
    /// Text that starts and ends with a visible ASCII character (an API key, a name) is returned as it is
    /// without looking at its characters.
    @inlinable
    public func trimmingWhitespace() -> String {
        if let first = first?.asciiValue, let last = last?.asciiValue, first > 0x20, first < 0x7F, last > 0x20, last < 0x7F {
            return String(self)
        }
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[start...end])
    }
}
