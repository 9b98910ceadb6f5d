import Crypto
import Foundation
import Testing

/// Builds JWTs by hand, so tests can make broken ones.
enum TestJWT {
    static func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func json(_ object: [String: Any]) -> String {
        base64URL(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    static func claims(sub: String, aud: String = "authenticated", expiresIn: Double = 3600) -> [String: Any] {
        let now = Int(Date().timeIntervalSince1970)
        return ["sub": sub, "aud": aud, "iat": now, "exp": now + Int(expiresIn)]
    }

    static func hs256(_ claims: [String: Any], secret: String = TestCluster.jwtSecret) -> String {
        let input = json(["alg": "HS256", "typ": "JWT"]) + "." + json(claims)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return input + "." + base64URL(Data(mac))
    }

    static func es256(_ claims: [String: Any], key: P256.Signing.PrivateKey, kid: String) throws -> String {
        let input = json(["alg": "ES256", "typ": "JWT", "kid": kid]) + "." + json(claims)
        let signature = try key.signature(for: Data(input.utf8))
        return input + "." + base64URL(signature.rawRepresentation)
    }

    static func jwks(_ key: P256.Signing.PublicKey, kid: String) -> [UInt8] {
        let raw = key.rawRepresentation
        let document: [String: Any] = [
            "keys": [
                [
                    "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256", "x": base64URL(raw.prefix(32)),
                    "y": base64URL(raw.suffix(32)),
                ]
            ]
        ]
        return Array(try! JSONSerialization.data(withJSONObject: document))
    }
}

@Suite("session tokens through nginx", .serialized)
struct SessionTokenTests {
    @Test func brokenTokensAreRefused() throws {
        let cluster = try TestCluster()
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        func status(_ token: String) throws -> Int {
            try cluster.client().get("/api/training/stats", headers: ["Authorization": "Bearer \(token)"]).status
        }

        #expect(try status(TestJWT.hs256(TestJWT.claims(sub: user))) == 200)
        #expect(try status(try cluster.sessionToken(user: user)) == 200)
        // Expired well beyond the leeway.
        #expect(try status(TestJWT.hs256(TestJWT.claims(sub: user, expiresIn: -600))) == 401)
        // Tampered: the payload swapped for another user's, the signature kept.
        let good = TestJWT.hs256(TestJWT.claims(sub: user)).split(separator: ".")
        let forged = TestJWT.json(TestJWT.claims(sub: UUID().uuidString.lowercased()))
        #expect(try status("\(good[0]).\(forged).\(good[2])") == 401)
        // alg none, with and without an empty signature.
        let none = TestJWT.json(["alg": "none", "typ": "JWT"]) + "." + TestJWT.json(TestJWT.claims(sub: user))
        #expect(try status(none + ".") == 401)
        #expect(try status(none + ".c2lnbmF0dXJl") == 401)
        // Wrong audience, wrong secret.
        #expect(try status(TestJWT.hs256(TestJWT.claims(sub: user, aud: "anon"))) == 401)
        #expect(try status(TestJWT.hs256(TestJWT.claims(sub: user), secret: "another-secret")) == 401)
        let body = try cluster.client().get("/api/training/stats", headers: ["Authorization": "Bearer not.a.jwt"])
        #expect(body.text == #"{"error":"Unauthorized"}"#)
    }

    @Test func es256TokenCheckedAgainstAJWKSFile() throws {
        let key = P256.Signing.PrivateKey()
        let jwksPath = NSTemporaryDirectory() + "jwks-\(UUID().uuidString).json"
        try #require(FileManager.default.createFile(atPath: jwksPath, contents: Data(TestJWT.jwks(key.publicKey, kid: "k1"))))
        defer { try? FileManager.default.removeItem(atPath: jwksPath) }
        let cluster = try TestCluster(environment: ["JWT_JWKS": jwksPath])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        func status(_ token: String) throws -> Int {
            try cluster.client().get("/api/training/stats", headers: ["Authorization": "Bearer \(token)"]).status
        }

        #expect(try status(TestJWT.es256(TestJWT.claims(sub: user), key: key, kid: "k1")) == 200)
        #expect(try status(TestJWT.es256(TestJWT.claims(sub: user), key: P256.Signing.PrivateKey(), kid: "k1")) == 401)
        #expect(try status(TestJWT.es256(TestJWT.claims(sub: user), key: key, kid: "unknown")) == 401)
        #expect(try status(TestJWT.es256(TestJWT.claims(sub: user, expiresIn: -600), key: key, kid: "k1")) == 401)
        // Algorithm confusion: HS256 "signed" with the public key's bytes.
        let confused = TestJWT.hs256(TestJWT.claims(sub: user), secret: String(decoding: TestJWT.jwks(key.publicKey, kid: "k1"), as: UTF8.self))
        #expect(try status(confused) == 401)
    }

    @Test func jwksFromAURLIsFetchedAndRefreshedOnAnUnknownKid() throws {
        let directory = NSTemporaryDirectory() + "jwks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = P256.Signing.PrivateKey()
        try #require(FileManager.default.createFile(atPath: directory + "/jwks.json", contents: Data(TestJWT.jwks(first.publicKey, kid: "first"))))

        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A port found free, not a random one: a random port can be another test's server (a PostgreSQL
        // there waits for its start-up packet, and the probe below hangs).
        let port = try TestCluster.freePort()
        server.arguments = ["python3", "-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", directory]
        server.standardError = FileHandle.nullDevice
        server.standardOutput = FileHandle.nullDevice
        try server.run()
        // SIGKILL: a child of the test process may inherit a mask that blocks SIGTERM.
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let url = "http://127.0.0.1:\(port)/jwks.json"
        for _ in 0..<600 where (try? HTTPTestClient(port: port).get("/jwks.json").status) != 200 { usleep(50_000) }
        try #require((try? HTTPTestClient(port: port).get("/jwks.json").status) == 200, "the JWKS server did not start")

        let cluster = try TestCluster(environment: ["JWT_JWKS": url, "JWT_JWKS_REFRESH_SECONDS": "1"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        func status(_ token: String) throws -> Int {
            try cluster.client().get("/api/training/stats", headers: ["Authorization": "Bearer \(token)"]).status
        }
        // A worker that could not load the JWKS at its start loads it on the first unknown kid (at most once a second).
        let firstToken = try TestJWT.es256(TestJWT.claims(sub: user), key: first, kid: "first")
        try cluster.waitFor("the first key to be fetched") { (try? status(firstToken)) == 200 }

        // The issuer rotates its key: a token with the new kid makes the pool fetch again.
        let second = P256.Signing.PrivateKey()
        try #require(FileManager.default.createFile(atPath: directory + "/jwks.json", contents: Data(TestJWT.jwks(second.publicKey, kid: "second"))))
        let rotated = try TestJWT.es256(TestJWT.claims(sub: user), key: second, kid: "second")
        try cluster.waitFor("the rotated key to be fetched", timeout: 20) { (try? status(rotated)) == 200 }
    }
}
