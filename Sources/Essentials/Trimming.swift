extension StringProtocol {
    /// The text without leading and trailing whitespace (spaces, tabs, line ends and other Unicode white space).
    @inlinable
    public func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[start...end])
    }
}

extension String {
    /// The text without leading and trailing whitespace. Text that starts and ends with a visible ASCII
    /// character (an API key, a name) is returned as it is, from two bytes, without reading characters.
    @inlinable
    public func trimmingWhitespace() -> String {
        let bytes = utf8
        if let first = bytes.first, first > 0x20, first < 0x7F {
            let last = bytes[bytes.index(before: bytes.endIndex)]
            if last > 0x20, last < 0x7F { return self }
        }
        return self[...].trimmingWhitespace()
    }
}
