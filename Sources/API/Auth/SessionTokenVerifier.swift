import Crypto
import CryptoExtras
import JSON

/// How session tokens (Supabase-style JWTs) are checked.
public struct SessionTokenConfiguration: Sendable {
    /// `JWT_SECRET`: enables HS256.
    public var hmacSecret: [UInt8]?
    /// `JWT_JWKS`: enables ES256 and RS256 with the keys it lists.
    public var jwks: JWKSSource?
    /// `JWT_AUDIENCE`: the `aud` a token must carry.
    public var audience: String
    /// Clock skew allowed on `exp` and `nbf`.
    public var leewaySeconds: Double
    /// Least time between two loads of the JWKS (a token with an unknown `kid` triggers one).
    public var jwksRefreshSeconds: Double

    public init(
        hmacSecret: [UInt8]? = nil, jwks: JWKSSource? = nil, audience: String = "authenticated", leewaySeconds: Double = 30,
        jwksRefreshSeconds: Double = 30
    ) {
        self.hmacSecret = hmacSecret
        self.jwks = jwks
        self.audience = audience
        self.leewaySeconds = leewaySeconds
        self.jwksRefreshSeconds = jwksRefreshSeconds
    }
}

/// Verifies session tokens locally: signature with an allowed algorithm,
/// then `exp`, `nbf`, `aud` and `sub`. Anything else is refused.
public final class SessionTokenVerifier: Sendable {
    private let configuration: SessionTokenConfiguration
    private let hmacKey: SymmetricKey?
    private let keySet: JSONWebKeySet?

    public init(configuration: SessionTokenConfiguration, fetcher: (any JWKSFetching)? = nil) {
        self.configuration = configuration
        hmacKey = configuration.hmacSecret.map { SymmetricKey(data: $0) }
        keySet = configuration.jwks.map { JSONWebKeySet(source: $0, fetcher: fetcher, refreshInterval: configuration.jwksRefreshSeconds) }
    }

    /// Loads the JWKS now, so a broken `JWT_JWKS` is reported at start-up.
    public func preloadKeys(now: Double) throws {
        try keySet?.preload(now: now)
    }

    /// Whether the JWKS comes from a URL (an outage there need not stop the pool).
    public var jwksIsRemote: Bool { keySet?.isRemote ?? false }

    /// The token's user id (`sub`) if it is valid at `now`, else nil.
    public func userID(fromToken token: String, now: Double) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2]), !signature.isEmpty,
            case .object(let header)? = try? JSONValue.parse(headerBytes),
            case .string(let algorithm)? = header["alg"]
        else { return nil }
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        var keyID: String?
        if case .string(let kid)? = header["kid"] { keyID = kid }

        guard verifySignature(signature, of: signingInput, algorithm: algorithm, keyID: keyID, now: now) else { return nil }
        guard case .object(let claims)? = try? JSONValue.parse(payloadBytes) else { return nil }
        return validatedSubject(claims, now: now)
    }

    private func verifySignature(_ signature: [UInt8], of input: [UInt8], algorithm: String, keyID: String?, now: Double) -> Bool {
        switch algorithm {
        case "HS256":
            // Only the configured secret: a public key is never used as an HMAC key.
            guard let hmacKey else { return false }
            return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: hmacKey)
        case "ES256", "RS256":
            guard let key = keySet?.key(id: keyID, algorithm: algorithm, now: now) else { return false }
            switch key.material {
            case .p256(let publicKey):
                guard let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
                return publicKey.isValidSignature(ecdsa, for: input)
            case .rsa(let publicKey):
                return publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: input, padding: .insecurePKCS1v1_5)
            }
        default:
            return false  // "none" and everything not configured
        }
    }

    private func validatedSubject(_ claims: JSONObject, now: Double) -> String? {
        let leeway = configuration.leewaySeconds
        guard let expiry = Self.number(claims["exp"]), now <= expiry + leeway else { return nil }
        if let notBefore = claims["nbf"] {
            guard let notBefore = Self.number(notBefore), now + leeway >= notBefore else { return nil }
        }
        switch claims["aud"] {
        case .string(let audience)?:
            guard audience == configuration.audience else { return nil }
        case .array(let audiences)?:
            guard audiences.contains(.string(configuration.audience)) else { return nil }
        default:
            return nil
        }
        guard case .string(let subject)? = claims["sub"], !subject.isEmpty, subject.utf8.count <= 255 else { return nil }
        return subject
    }

    private static func number(_ value: JSONValue?) -> Double? {
        switch value {
        case .int(let number)?: Double(number)
        case .double(let number)?: number
        default: nil
        }
    }

    /// Mints an HS256 session token like Supabase Auth's (`sub`, `aud`, `role`, `iat`, `exp`).
    public static func mintHS256(secret: [UInt8], userID: String, audience: String, now: Double, ttlSeconds: Double) -> String {
        let header = JSONValue.object(["alg": .string("HS256"), "typ": .string("JWT")])
        let claims = JSONValue.object([
            "sub": .string(userID), "aud": .string(audience), "role": .string("authenticated"),
            "iat": .int(Int64(now)), "exp": .int(Int64(now + ttlSeconds)),
        ])
        let input = Base64URL.encode(header.serialized()) + "." + Base64URL.encode(claims.serialized())
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: secret))
        return input + "." + Base64URL.encode(Array(mac))
    }
}
