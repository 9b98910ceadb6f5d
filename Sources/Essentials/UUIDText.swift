/// The lowercase form of a UUID string (8-4-4-4-12 hex digits, either case), or nil.
public func canonicalUUID(_ text: some StringProtocol) -> String? {
    guard hasUUIDShape(text.utf8, lowercaseOnly: false) else { return nil }
    return String(decoding: text.utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "F") ? $0 + 32 : $0 }, as: UTF8.self)
}

/// Whether `text` is already a UUID as the product writes ids: 8-4-4-4-12 lowercase hex digits.
public func isCanonicalUUID(_ text: some StringProtocol) -> Bool {
    hasUUIDShape(text.utf8, lowercaseOnly: true)
}

/// 36 bytes, dashes at 8, 13, 18 and 23 and hex digits elsewhere (only lowercase ones when `lowercaseOnly`).
private func hasUUIDShape(_ bytes: some Collection<UInt8>, lowercaseOnly: Bool) -> Bool {
    guard bytes.count == 36 else { return false }
    for (index, byte) in bytes.enumerated() {
        switch index {
        case 8, 13, 18, 23:
            guard byte == UInt8(ascii: "-") else { return false }
        default:
            guard Hex.value(of: byte) != nil, !(lowercaseOnly && byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F")) else { return false }
        }
    }
    return true
}
