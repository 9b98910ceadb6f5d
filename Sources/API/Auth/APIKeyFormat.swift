import Crypto
import Essentials

/// The shape of API keys: `wak_` followed by 32 base62 characters.
public enum APIKeyFormat {
    public static let prefix = "wak_"
    public static let randomLength = 32
    public static let displayPrefixLength = 12
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// Whether `text` has exactly the key format.
    public static func isWellFormed(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == prefix.utf8.count + randomLength, text.hasPrefix(prefix) else { return false }
        return utf8.dropFirst(prefix.utf8.count).allSatisfy { byte in
            (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
        }
    }

    /// A new key from the system's CSPRNG (about 190 bits).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }

    /// A key from `generator` (a seeded one makes benchmark data reproducible).
    public static func generate(using generator: inout some RandomNumberGenerator) -> String {
        var bytes = Array(prefix.utf8)
        for _ in 0..<randomLength { bytes.append(alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Lowercase hex SHA-256 of the key: what the store keeps and looks up.
    public static func hash(_ key: String) -> String {
        hexSHA256(Array(key.utf8))
    }
}

/// Lowercase hex SHA-256.
public func hexSHA256(_ bytes: [UInt8]) -> String {
    Hex.encode(SHA256.hash(data: bytes))
}

/// Compares two byte strings in time that depends only on their lengths.
public func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}
