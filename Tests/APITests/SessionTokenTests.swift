import API
import Crypto
import Domain
import Foundation
import HTTPCore
import JSON
import Testing
import _CryptoExtras

/// An ES256 signing key and its JWK.
struct ECSigningKey {
    let privateKey = P256.Signing.PrivateKey()
    let kid: String
    var use: String? = "sig"

    var jwk: JSONValue {
        let raw = privateKey.publicKey.rawRepresentation
        var pairs: [(String, JSONValue)] = [
            ("kty", .string("EC")), ("crv", .string("P-256")), ("x", .string(JWT.base64URL(raw.prefix(32)))),
            ("y", .string(JWT.base64URL(raw.suffix(32)))), ("kid", .string(kid)), ("alg", .string("ES256")),
        ]
        if let use { pairs.append(("use", .string(use))) }
        return JWT.object(pairs)
    }

    func token(_ claims: JSONValue, header: JSONValue? = nil) throws -> String {
        let input = JWT.signingInput(header ?? JWT.header(alg: "ES256", kid: kid), claims)
        let signature = try privateKey.signature(for: Data(input.utf8))
        return input + "." + JWT.base64URL(signature.rawRepresentation)
    }
}

/// One RSA key for the whole suite: generating 2048-bit keys is slow.
enum RSAFixture {
    static let privateKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let kid = "rsa-1"

    static var jwk: JSONValue {
        let primitives = try! privateKey.publicKey.getKeyPrimitives()
        return JWT.object([
            ("kty", .string("RSA")), ("n", .string(JWT.base64URL(primitives.modulus))),
            ("e", .string(JWT.base64URL(primitives.publicExponent))), ("kid", .string(kid)), ("alg", .string("RS256")),
            ("use", .string("sig")),
        ])
    }

    static func token(_ claims: JSONValue, header: JSONValue = JWT.header(alg: "RS256", kid: RSAFixture.kid)) throws -> String {
        let input = JWT.signingInput(header, claims)
        let signature = try privateKey.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
        return input + "." + JWT.base64URL(signature.rawRepresentation)
    }
}

func jwksDocument(_ keys: [JSONValue]) -> JSONValue { JWT.object([("keys", .array(keys))]) }

@Suite("Session tokens (JWT)")
struct SessionTokenTests {
    /// Sends the token to /api/training/stats and returns the status; checks the 401 body on failure.
    func status(_ env: TestEnvironment, _ token: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let response = env.stats(JWT.bearer(token))
        if response.status.code == 401 {
            #expect(try response.object() == errorBody("Unauthorized"), sourceLocation: sourceLocation)
        }
        return response.status.code
    }

    // MARK: HS256

    @Test func validHS256TokenIsAcceptedAndSubIsTheUser() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        try env.store.trainingJobs.insert([TrainingJob(id: newUserID(), userID: user, modelName: "m", createdAt: .now())])
        let response = env.stats(env.sessionHeaders(userID: user))
        #expect(response.status.code == 200)
        #expect(try response.object()["total_jobs"] == .int(1))
        // The hand-built token the other tests start from is accepted too.
        #expect(try status(env, JWT.hs256(JWT.claims(sub: user))) == 200)
    }

    @Test func sessionTokensHaveNoRateLimitHeaders() throws {
        let env = try TestEnvironment(rateLimit: 1)
        let headers = env.sessionHeaders(userID: newUserID())
        for _ in 0..<3 {
            let response = env.stats(headers)
            #expect(response.status.code == 200)
            #expect(response.header("X-RateLimit-Limit") == nil)
        }
    }

    @Test func expiredBeyondLeewayIs401() throws {
        let env = try TestEnvironment()
        #expect(try status(env, JWT.hs256(JWT.claims(exp: JWT.now - 120))) == 401)
        #expect(try status(env, TestEnvironment.sessionToken(userID: "u", ttlSeconds: -3600)) == 401)
    }

    @Test func expiredWithinLeewayIsAccepted() throws {
        // exp 5 s ago, leeway 30 s.
        let env = try TestEnvironment()
        #expect(try status(env, JWT.hs256(JWT.claims(exp: JWT.now - 5))) == 200)
    }

    @Test func missingExpIs401() throws {
        let env = try TestEnvironment()
        #expect(try status(env, JWT.hs256(JWT.claims(exp: nil))) == 401)
    }

    @Test func tamperedPayloadIs401() throws {
        let env = try TestEnvironment()
        let token = JWT.hs256(JWT.claims(sub: "alice"))
        let parts = token.split(separator: ".").map(String.init)
        let forged = JWT.base64URL(JWT.claims(sub: "mallory").serialized())
        #expect(try status(env, [parts[0], forged, parts[2]].joined(separator: ".")) == 401)
        // Sanity: the untouched token passes.
        #expect(try status(env, token) == 200)
    }

    @Test func tamperedSignatureOrWrongSecretIs401() throws {
        let env = try TestEnvironment()
        let token = JWT.hs256(JWT.claims())
        var signature = Array(token.split(separator: ".")[2])
        signature[0] = signature[0] == "A" ? "B" : "A"
        let prefix = token.split(separator: ".").prefix(2).joined(separator: ".")
        #expect(try status(env, prefix + "." + String(signature)) == 401)
        #expect(try status(env, prefix + ".") == 401)
        #expect(try status(env, JWT.hs256(JWT.claims(), secret: Array("other".utf8))) == 401)
    }

    @Test(arguments: ["none", "None", "NONE", ""])
    func algNoneIs401(_ alg: String) throws {
        let env = try TestEnvironment()
        let input = JWT.signingInput(JWT.header(alg: alg), JWT.claims())
        #expect(try status(env, input + ".") == 401)
        #expect(try status(env, input + "." + JWT.base64URL(Array("sig".utf8))) == 401)
        // Even with a real HMAC over the input: the algorithm name is what is refused.
        #expect(try status(env, JWT.hs256(JWT.claims(), header: JWT.header(alg: alg))) == 401)
    }

    @Test func audienceIsChecked() throws {
        let env = try TestEnvironment()
        #expect(try status(env, JWT.hs256(JWT.claims(aud: .string("anon")))) == 401)
        #expect(try status(env, JWT.hs256(JWT.claims(aud: nil))) == 401)
        #expect(try status(env, JWT.hs256(JWT.claims(aud: .array([.string("other")])))) == 401)
        #expect(try status(env, JWT.hs256(JWT.claims(aud: .array([.string("other"), .string("authenticated")])))) == 200)
    }

    @Test func configuredAudienceIsUsed() throws {
        let env = try TestEnvironment(audience: "my-api")
        #expect(try status(env, JWT.hs256(JWT.claims(aud: .string("my-api")))) == 200)
        #expect(try status(env, JWT.hs256(JWT.claims(aud: .string("authenticated")))) == 401)
    }

    @Test func notBeforeIsChecked() throws {
        let env = try TestEnvironment()
        #expect(try status(env, JWT.hs256(JWT.claims(nbf: JWT.now + 300))) == 401)
        #expect(try status(env, JWT.hs256(JWT.claims(nbf: JWT.now - 300))) == 200)
        // Within the leeway.
        #expect(try status(env, JWT.hs256(JWT.claims(nbf: JWT.now + 5))) == 200)
    }

    @Test func missingOrEmptySubIs401() throws {
        let env = try TestEnvironment()
        #expect(try status(env, JWT.hs256(JWT.claims(sub: nil))) == 401)
        #expect(try status(env, JWT.hs256(JWT.claims(sub: ""))) == 401)
    }

    @Test(arguments: ["a.b", "a.b.c", "a.b.c.d", "...", "not a token", "e30.e30.e30"])
    func garbageTokensAre401(_ token: String) throws {
        let env = try TestEnvironment()
        #expect(try status(env, token) == 401)
    }

    @Test func hs256WithoutConfiguredSecretIs401() throws {
        let ec = ECSigningKey(kid: "ec-1")
        let env = try TestEnvironment(hmacSecret: nil, jwksDocument: jwksDocument([ec.jwk]))
        #expect(try status(env, TestEnvironment.sessionToken(userID: "u")) == 401)
        #expect(try status(env, JWT.hs256(JWT.claims(), secret: [])) == 401)
        // The environment itself works: an ES256 token passes.
        #expect(try status(env, ec.token(JWT.claims())) == 200)
    }

    // MARK: ES256 / RS256 with a JWKS file

    @Test func es256TokenVerifiedAgainstJWKSFile() throws {
        let ec = ECSigningKey(kid: "ec-1")
        let env = try TestEnvironment(hmacSecret: nil, jwksDocument: jwksDocument([ec.jwk, RSAFixture.jwk]))
        let user = newUserID()
        try env.store.trainingJobs.insert([TrainingJob(id: newUserID(), userID: user, modelName: "m", status: .running, createdAt: .now())])
        let response = env.stats(JWT.bearer(try ec.token(JWT.claims(sub: user))))
        #expect(response.status.code == 200)
        #expect(try response.object()["running"] == .int(1))
    }

    @Test func es256ClaimsAreStillChecked() throws {
        let ec = ECSigningKey(kid: "ec-1")
        let env = try TestEnvironment(hmacSecret: nil, jwksDocument: jwksDocument([ec.jwk]))
        #expect(try status(env, ec.token(JWT.claims(exp: JWT.now - 120))) == 401)
        #expect(try status(env, ec.token(JWT.claims(aud: .string("anon")))) == 401)
        #expect(try status(env, ec.token(JWT.claims(sub: nil))) == 401)
    }

    @Test func es256WithUnknownKidIs401() throws {
        let ec = ECSigningKey(kid: "ec-1")
        let env = try TestEnvironment(hmacSecret: nil, jwksDocument: jwksDocument([ec.jwk]))
        #expect(try status(env, ec.token(JWT.claims(), header: JWT.header(alg: "ES256", kid: "ec-2"))) == 401)
        #expect(try status(env, ec.token(JWT.claims())) == 200)
    }

    @Test func es256SignedByAnotherKeyIs401() throws {
        let ec = ECSigningKey(kid: "ec-1")
        let impostor = ECSigningKey(kid: "ec-1")
        let env = try TestEnvironment(hmacSecret: nil, jwksDocument: jwksDocument([ec.jwk]))
        #expect(try status(env, impostor.token(JWT.claims())) == 401)
    }

    @Test func es256TamperedPayloadIs401() throws {
        let ec = ECSigningKey(kid: "ec-1")
        let env = try TestEnvironment(hmacSecret: nil, jwksDocument: jwksDocument([ec.jwk]))
        let parts = try ec.token(JWT.claims(sub: "alice")).split(separator: ".").map(String.init)
        let forged = JWT.base64URL(JWT.claims(sub: "mallory").serialized())
        #expect(try status(env, [parts[0], forged, parts[2]].joined(separator: ".")) == 401)
    }

    @Test func keysNotForSigningAreIgnored() throws {
        let encryption = ECSigningKey(kid: "enc-1", use: "enc")
        let env = try TestEnvironment(hmacSecret: nil, jwksDocument: jwksDocument([encryption.jwk]))
        #expect(try status(env, encryption.token(JWT.claims())) == 401)
    }

    @Test func es256WithoutJWKSIs401() throws {
        let env = try TestEnvironment()
        #expect(try status(env, ECSigningKey(kid: "ec-1").token(JWT.claims())) == 401)
    }

    @Test func rs256TokenVerifiedAgainstJWKSFile() throws {
        let ec = ECSigningKey(kid: "ec-1")
        let env = try TestEnvironment(hmacSecret: nil, jwksDocument: jwksDocument([ec.jwk, RSAFixture.jwk]))
        #expect(try status(env, RSAFixture.token(JWT.claims())) == 200)
        // Wrong kid, or an RS256 signature presented as ES256: refused.
        #expect(try status(env, RSAFixture.token(JWT.claims(), header: JWT.header(alg: "RS256", kid: "ec-1"))) == 401)
        #expect(try status(env, RSAFixture.token(JWT.claims(), header: JWT.header(alg: "ES256", kid: "ec-1"))) == 401)
        #expect(try status(env, RSAFixture.token(JWT.claims(exp: JWT.now - 120))) == 401)
    }

    /// HS256 tokens whose HMAC key is some public form of a JWKS key.
    func confusionTokens(ec: ECSigningKey, jwksBytes: [UInt8]) throws -> [String] {
        let publicKey = ec.privateKey.publicKey
        let rsaPublic = RSAFixture.privateKey.publicKey
        let raw = Array(publicKey.rawRepresentation)
        let secrets: [[UInt8]] = [
            raw, Array(publicKey.x963Representation), Array(publicKey.derRepresentation), Array(publicKey.pemRepresentation.utf8),
            Array(raw.prefix(32)), Array(JWT.base64URL(raw.prefix(32)).utf8), jwksBytes, Array(ec.jwk.serialized()),
            Array(rsaPublic.derRepresentation), Array(rsaPublic.pemRepresentation.utf8), Array(rsaPublic.pkcs1DERRepresentation),
            Array(try rsaPublic.getKeyPrimitives().modulus),
        ]
        return secrets.flatMap { secret in
            [
                JWT.hs256(JWT.claims(), secret: secret, header: JWT.header(alg: "HS256", kid: ec.kid)),
                JWT.hs256(JWT.claims(), secret: secret, header: JWT.header(alg: "HS256", kid: RSAFixture.kid)),
                JWT.hs256(JWT.claims(), secret: secret),
            ]
        }
    }

    @Test func algorithmConfusionWithPublicKeyAsHMACSecretIs401() throws {
        let ec = ECSigningKey(kid: "ec-1")
        let document = jwksDocument([ec.jwk, RSAFixture.jwk])
        for hmacSecret in [nil, TestEnvironment.secret] {
            let env = try TestEnvironment(hmacSecret: hmacSecret, jwksDocument: document)
            for token in try confusionTokens(ec: ec, jwksBytes: document.serialized()) {
                #expect(try status(env, token) == 401)
            }
            // The JWKS keys themselves do work in this environment.
            #expect(try status(env, ec.token(JWT.claims())) == 200)
        }
    }
}
