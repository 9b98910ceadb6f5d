import Crypto
import FuzzSupport
import JSON

// Session tokens (JWTs): the verifier configured as in production with an
// HS256 secret and a JWKS holding an ES256 key.
//
// Input: one byte of mode, then
// - 0: a token as it came. Nothing the fuzzer writes is accepted: it cannot sign.
// - 1, 2: a header and a claims document separated by 0x00, which the target
//   encodes and signs (1: HS256 with the secret, 2: ES256 with the JWKS key).
//   The verifier must accept exactly when the documents say it should (a
//   model of the rules: `alg` as signed, `exp`, `nbf`, `aud`, `sub`) and
//   then return `sub`.
// - 3: a JWKS document: loading it never crashes.
// Base64url must decode what it encodes, and encode back what it decodes.
@testable import API

#if canImport(Glibc)
import Glibc
#endif

let now = 1_800_000_000.0
let leeway = 30.0
let audience = "authenticated"
let secret = Array("fuzz-secret-of-at-least-32-bytes!!".utf8)
let ecKey = P256.Signing.PrivateKey()

/// The verifier as `serve` configures it: HS256 with `secret`, and a JWKS file holding the public half of `ecKey`.
func makeVerifier() -> SessionTokenVerifier {
    let point = Array(ecKey.publicKey.rawRepresentation)
    let jwks = JSONValue.object([
        "keys": .array([
            .object([
                "kty": .string("EC"), "crv": .string("P-256"), "kid": .string("fuzz-es256"), "use": .string("sig"),
                "x": .string(Base64URL.encode(point.prefix(32))), "y": .string(Base64URL.encode(point.suffix(32))),
            ])
        ])
    ])
    let path = "/tmp/ftapi-fuzz-jwks-\(getpid()).json"
    let file = fopen(path, "wb")!
    let text = jwks.serialized()
    fwrite(text, 1, text.count, file)
    fclose(file)
    defer { unlink(path) }
    let configuration = SessionTokenConfiguration(hmacSecret: secret, jwks: .file(path), audience: audience, leewaySeconds: leeway)
    let verifier = SessionTokenVerifier(configuration: configuration)
    try! verifier.preloadKeys(now: now)
    return verifier
}

let verifier = makeVerifier()

func number(_ value: JSONValue?) -> Double? {
    switch value {
    case .int(let number)?: Double(number)
    case .double(let number)?: number
    default: nil
    }
}

/// The subject a token with these documents, signed with `algorithm`'s key, must yield, or nil if it must be refused.
func expectedSubject(header: [UInt8], claims: [UInt8], algorithm: String) -> String? {
    guard case .object(let header)? = try? JSONValue.parse(header), header["alg"] == .string(algorithm) else { return nil }
    if algorithm == "ES256", let kid = header["kid"], kid != .string("fuzz-es256") {
        // Another key id, or one that is not a string (then the only ES256 key is chosen).
        guard case .string = kid else { return expectedClaimsSubject(claims) }
        return nil
    }
    return expectedClaimsSubject(claims)
}

func expectedClaimsSubject(_ claims: [UInt8]) -> String? {
    guard case .object(let claims)? = try? JSONValue.parse(claims) else { return nil }
    guard let expiry = number(claims["exp"]), now <= expiry + leeway else { return nil }
    if let notBefore = claims["nbf"] {
        guard let notBefore = number(notBefore), now + leeway >= notBefore else { return nil }
    }
    switch claims["aud"] {
    case .string(audience)?: break
    case .array(let audiences)? where audiences.contains(.string(audience)): break
    default: return nil
    }
    guard case .string(let subject)? = claims["sub"], !subject.isEmpty, subject.utf8.count <= 255 else { return nil }
    return subject
}

func checkBase64URL(_ bytes: [UInt8]) {
    let encoded = Base64URL.encode(bytes)
    require(Base64URL.decode(encoded) == bytes, "base64url does not decode what it encodes")
}

fuzz { input in
    guard let mode = input.first else { return }
    let rest = Array(input.dropFirst())
    switch mode % 4 {
    case 0:
        let token = String(decoding: rest, as: UTF8.self)
        require(verifier.userID(fromToken: token, now: now) == nil, "an unsigned token was accepted")
        for part in token.split(separator: ".", omittingEmptySubsequences: false) {
            if let decoded = Base64URL.decode(part) { require(Base64URL.encode(decoded) == part, "base64url is not canonical: \(part)") }
        }
    case 1, 2:
        let split = rest.firstIndex(of: 0x00) ?? rest.endIndex
        let header = Array(rest[..<split])
        let claims = Array(rest[split...].dropFirst())
        checkBase64URL(header)
        checkBase64URL(claims)
        let input = Base64URL.encode(header) + "." + Base64URL.encode(claims)
        let algorithm = mode % 4 == 1 ? "HS256" : "ES256"
        let signature: [UInt8]
        if algorithm == "HS256" {
            signature = Array(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: secret)))
        } else {
            signature = Array(try! ecKey.signature(for: Array(input.utf8)).rawRepresentation)
        }
        let token = input + "." + Base64URL.encode(signature)
        let subject = verifier.userID(fromToken: token, now: now)
        let expected = expectedSubject(header: header, claims: claims, algorithm: algorithm)
        require(subject == expected, "verifier says \(String(describing: subject)), the rules \(String(describing: expected))")
        // The same token with its signature changed is refused.
        var forged = signature
        forged[forged.count / 2] ^= 0x01
        require(verifier.userID(fromToken: input + "." + Base64URL.encode(forged), now: now) == nil, "a forged signature was accepted")
    default:
        _ = try? JSONWebKey.parseSet(rest)
    }
}
