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
        guard text.utf8.count == prefix.utf8.count + randomLength, text.hasPrefix(prefix) else { return false }
        var text = text
        return text.withUTF8 { bytes in
            for byte in bytes[prefix.utf8.count...] where !((48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)) {
                return false
            }
            return true
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
        hexSHA256(key)
    }
}

/// Lowercase hex SHA-256 of `text`'s UTF-8 bytes.
public func hexSHA256(_ text: String) -> String {
    var text = text
    return text.withUTF8 { bytes in SHA256.hash(data: UnsafeRawBufferPointer(bytes)).withUnsafeBytes { Hex.encode($0) } }
}

/// Compares two strings' UTF-8 bytes in time that depends only on their lengths.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    var a = a
    var b = b
    return a.withUTF8 { x in b.withUTF8 { y in constantTimeEquals(x, y) } }
}

/// Compares two byte strings in time that depends only on their lengths.
public func constantTimeEquals(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<a.count { difference |= a[index] ^ b[index] }
    return difference == 0
}
