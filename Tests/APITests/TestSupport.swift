public import API
import Crypto
import Domain
import Foundation
import HTTPCore
import JSON
import Logging
public import Pool
import Storage
import TestDatabases
import Testing

/// One application wired to a fresh SQLite file in its own temporary
/// directory, with an in-process rate-limiter region. No sockets.
final class TestEnvironment: @unchecked Sendable {
    // @unchecked: each test owns its environment; nothing here is mutated after init.
    static let secret = Array("secret".utf8)

    let directory: String
    let store: any Store
    /// The PostgreSQL schema of this environment (`FTAPI_TEST_BACKEND=postgres`), given back with it; nil on SQLite.
    private let postgresConfiguration: PostgreSQLConfiguration?
    let app: Application

    init(
        rateLimit: Int = 0,
        hmacSecret: [UInt8]? = TestEnvironment.secret,
        jwks: JWKSSource? = nil,
        jwksDocument: JSONValue? = nil,
        audience: String = "authenticated",
        datasetMaxBytes: Int = 100 << 20,
        modelSearch: ModelSearchSettings = ModelSearchSettings(),
        modelHub: (any ModelHubTransport)? = nil,
        agents: AgentSettings = AgentSettings()
    ) throws {
        directory = try makeTemporaryDirectory()
        var jwks = jwks
        if let jwksDocument {
            let path = directory + "/jwks.json"
            try Data(jwksDocument.serialized()).write(to: URL(fileURLWithPath: path))
            jwks = .file(path)
        }
        if ProcessInfo.processInfo.environment["FTAPI_TEST_BACKEND"] == "postgres",
            let url = ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"]
        {
            var configuration = PostgreSQLConfiguration(url: url, poolSize: 8)
            // pgbouncer in transaction mode when the suite runs through it.
            configuration.poolMode =
                ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_POOL_MODE"].flatMap(PostgreSQLPoolMode.init(rawValue:)) ?? .session
            // A migrated schema another test gave back emptied, not a migration of its own.
            try TestDatabases.takePostgreSQLSchema(for: &configuration)
            postgresConfiguration = configuration
            store = try PostgreSQLStore(configuration: configuration)
        } else {
            postgresConfiguration = nil
            try TestDatabases.copySQLiteTemplate(to: directory + "/t.db")
            store = SQLiteStore(configuration: SQLiteConfiguration(path: directory + "/t.db"))
        }
        let limiter = RateLimiter(counter: try SharedRateLimitTable.anonymous(), limit: rateLimit, windowSeconds: 60)
        let verifier = SessionTokenVerifier(
            configuration: SessionTokenConfiguration(hmacSecret: hmacSecret, jwks: jwks, audience: audience, leewaySeconds: 30)
        )
        app = Application(
            store: store, sessionTokens: verifier, rateLimiter: limiter, datasetFiles: DatasetFiles(dataDirectory: directory),
            settings: APISettings(version: "test", accessLog: false, datasetMaxBytes: datasetMaxBytes, modelSearch: modelSearch, agents: agents),
            logger: Logger(label: "test"), modelHub: modelHub
        )
    }

    deinit {
        if let postgresConfiguration { TestDatabases.givePostgreSQLSchemaBack(postgresConfiguration) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Inserts an API key straight into the store and returns the plain key.
    @discardableResult
    func insertKey(
        userID: String, name: String? = nil, scopes: [Scope] = [.all], revoked: Bool = false,
        createdAt: Timestamp = .now()
    ) throws -> (key: String, record: APIKeyRecord) {
        let key = APIKeyFormat.generate()
        let record = APIKeyRecord(
            id: UUID().uuidString.lowercased(), userID: userID, name: name ?? "key-\(UUID().uuidString.prefix(8))",
            keyHash: APIKeyFormat.hash(key), keyPrefix: String(key.prefix(12)), scopes: scopes, createdAt: createdAt,
            revokedAt: revoked ? .now() : nil
        )
        try store.apiKeys.insert(record)
        return (key, record)
    }

    func send(
        _ method: String, _ path: String, query: String = "", headers: [String: String] = [:], body: [UInt8] = [],
        rejection: TransportRejection? = nil
    ) -> Response {
        app.responder.respond(
            to: Request(method: method, path: path, query: query, headers: HeaderFields(headers), body: body, rejection: rejection)
        )
    }

    /// A request whose body arrives as a stream in pieces (as the transport
    /// hands over dataset uploads), cut short when `endsEarly`.
    func sendStreamed(
        _ method: String, _ path: String, query: String = "", headers: [String: String] = [:], body: [UInt8],
        pieceBytes: Int = 1000, maxBytes: Int = .max, endsEarly: Bool = false
    ) -> Response {
        let stream = InMemoryBodyStream(body, maxBytes: maxBytes, pieceBytes: pieceBytes, endsEarly: endsEarly)
        return app.responder.respond(to: Request(method: method, path: path, query: query, headers: HeaderFields(headers), bodyStream: stream))
    }

    func get(_ path: String, query: String = "", headers: [String: String] = [:]) -> Response {
        send("GET", path, query: query, headers: headers)
    }

    /// `GET /api/training/stats` with these credential headers.
    func stats(_ headers: [String: String]) -> Response {
        get("/api/training/stats", headers: headers)
    }

    func postJSON(_ path: String, _ text: String, headers: [String: String] = [:], contentType: String? = "application/json") -> Response {
        var all = headers
        if let contentType { all["Content-Type"] = contentType }
        return send("POST", path, headers: all, body: Array(text.utf8))
    }

    func sessionHeaders(userID: String) -> [String: String] {
        ["Authorization": "Bearer " + Self.sessionToken(userID: userID)]
    }

    static func sessionToken(userID: String, ttlSeconds: Double = 3600) -> String {
        SessionTokenVerifier.mintHS256(
            secret: secret, userID: userID, audience: "authenticated", now: Date().timeIntervalSince1970, ttlSeconds: ttlSeconds
        )
    }
}

func makeTemporaryDirectory() throws -> String {
    var template = Array((NSTemporaryDirectory() + "/ftapi-tests-XXXXXX").utf8CString)
    let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    guard let result else { throw CocoaError(.fileWriteUnknown) }
    return String(cString: result)
}

func newUserID() -> String { UUID().uuidString.lowercased() }

// MARK: - Responses

extension Response {
    /// The parsed JSON body; fails the test when it isn't JSON.
    func json(sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        try #require(try? JSONValue.parse(body), "body is not JSON: \(String(decoding: body, as: UTF8.self))", sourceLocation: sourceLocation)
    }

    /// The body as a JSON object, keys in any order.
    func object(sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: JSONValue] {
        let value = try json(sourceLocation: sourceLocation)
        guard case .object(let object) = value else {
            Issue.record("body is not a JSON object: \(value.jsonText)", sourceLocation: sourceLocation)
            throw TestFailure.notAnObject
        }
        return object.dictionary
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

enum TestFailure: Error {
    case notAnObject
    case unexpectedShape(String)
}

extension JSONObject {
    var dictionary: [String: JSONValue] {
        Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
    }
}

extension JSONValue {
    var dictionary: [String: JSONValue]? {
        if case .object(let object) = self { return object.dictionary }
        return nil
    }
    var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
    var intValue: Int64? {
        if case .int(let number) = self { return number }
        return nil
    }
}

/// `{"error": message}` and optionally `code`, exactly.
func errorBody(_ message: String, code: String? = nil) -> [String: JSONValue] {
    var body: [String: JSONValue] = ["error": .string(message)]
    if let code { body["code"] = .string(code) }
    return body
}

// MARK: - JWTs

enum JWT {
    static func base64URL(_ bytes: some DataProtocol) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func object(_ pairs: [(String, JSONValue)]) -> JSONValue { .object(JSONObject(pairs)) }

    static func header(alg: String, kid: String? = nil) -> JSONValue {
        var pairs: [(String, JSONValue)] = [("alg", .string(alg)), ("typ", .string("JWT"))]
        if let kid { pairs.append(("kid", .string(kid))) }
        return object(pairs)
    }

    static var now: Double { Date().timeIntervalSince1970 }

    /// Claims like Supabase's; pass nil to leave a claim out.
    static func claims(
        sub: String? = "user-1", aud: JSONValue? = .string("authenticated"), exp: Double? = JWT.now + 3600,
        nbf: Double? = nil
    ) -> JSONValue {
        var pairs: [(String, JSONValue)] = []
        if let sub { pairs.append(("sub", .string(sub))) }
        if let aud { pairs.append(("aud", aud)) }
        pairs.append(("role", .string("authenticated")))
        pairs.append(("iat", .int(Int64(now))))
        if let exp { pairs.append(("exp", .int(Int64(exp)))) }
        if let nbf { pairs.append(("nbf", .int(Int64(nbf)))) }
        return object(pairs)
    }

    static func signingInput(_ header: JSONValue, _ claims: JSONValue) -> String {
        base64URL(header.serialized()) + "." + base64URL(claims.serialized())
    }

    static func hs256(_ claims: JSONValue, secret: [UInt8] = TestEnvironment.secret, header: JSONValue = JWT.header(alg: "HS256")) -> String {
        let input = signingInput(header, claims)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: secret))
        return input + "." + base64URL(Array(mac))
    }

    static func bearer(_ token: String) -> [String: String] { ["Authorization": "Bearer " + token] }
}

/// The pool's shared-memory table counts for the handler tests as it does in the
/// worker (where the executable declares the same conformance).
extension SharedRateLimitTable: RateLimitCounter {}
