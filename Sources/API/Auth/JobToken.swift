/// Job tokens: what a training worker uses to report on its one job.
/// `wjt_` + 43 base64url characters (256 random bits); stored as SHA-256 only.
public enum JobToken {
    public static let prefix = "wjt_"

    /// A new token from the system's CSPRNG.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<4 {
            let word = generator.next() as UInt64
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return prefix + Base64URL.encode(bytes)
    }

    public static func isWellFormed(_ token: String) -> Bool {
        token.hasPrefix(prefix) && token.utf8.count == prefix.utf8.count + 43
            && Base64URL.decode(token.dropFirst(prefix.count))?.count == 32
    }

    /// Whether `token` may be a job token that a FineTune Lab trainer chose (`POST /api/training/local/jobs`):
    /// 32 to 256 printable ASCII characters without spaces, and not an API key.
    public static func isAcceptableCallerToken(_ token: String) -> Bool {
        (32...256).contains(token.utf8.count) && token.utf8.allSatisfy { (0x21...0x7E).contains($0) }
            && !token.hasPrefix(APIKeyFormat.prefix)
    }

    /// Lowercase hex SHA-256 of the token.
    public static func hash(_ token: String) -> String {
        hexSHA256(token)
    }
}
