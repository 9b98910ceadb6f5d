import Domain
import Essentials
import FoundationEssentials
import HTTPCore
import JSON

/// `/api/user/api-keys`: list, create and revoke API keys (session token only).
struct APIKeyController {
    let keys: any APIKeyStore

    func register(on router: inout Router) {
        router.get("/api/user/api-keys", auth: .session, operation: .listAPIKeys, use: list)
        router.post("/api/user/api-keys", auth: .session, operation: .createAPIKey, use: create)
        router.delete("/api/user/api-keys/{id:uuid}", auth: .session, operation: .revokeAPIKey, use: revoke)
    }

    func list(_ context: RequestContext) throws -> Response {
        let page = try Page(query: context.query)
        let (records, total) = try keys.list(userID: context.user.userID, limit: page.limit, offset: page.offset)
        return .list(records.map { Self.json($0) }, total: total, page: page)
    }

    func create(_ context: RequestContext) throws -> Response {
        let fields = FieldReader(try context.jsonObject())
        try fields.rejectUnknown(["name", "scopes"])
        guard let name = try fields.string("name", required: true, length: 1...100)?.trimmingWhitespace(), !name.isEmpty else {
            throw APIError.badRequest("name must not be blank")
        }
        try FieldReader.refuseControlCharacters(name, field: "name")
        let scopes = try Self.scopes(fields.stringArray("scopes"))
        let key = APIKeyFormat.generate()
        let record = APIKeyRecord(
            id: UUID().uuidString.lowercased(), userID: try context.user.userID, name: name, keyHash: APIKeyFormat.hash(key),
            keyPrefix: String(key.prefix(APIKeyFormat.displayPrefixLength)), scopes: scopes, createdAt: .now()
        )
        do {
            try keys.insert(record)
        } catch StoreError.duplicate {
            throw APIError(.conflict, "An API key with this name already exists", details: "name \(name) is taken", code: "DUPLICATE_NAME")
        }
        return .resource(id: record.id, data: Self.json(record, key: key), status: .created)
    }

    func revoke(_ context: RequestContext) throws -> Response {
        guard try keys.revoke(id: context.parameter("id"), userID: context.user.userID, at: .now()) else {
            throw APIError.notFound
        }
        return .action("API key revoked")
    }

    /// Requested scopes: default `["all"]`; unknown or empty lists are a 400.
    private static func scopes(_ requested: [String]?) throws(APIError) -> [Scope] {
        guard let requested else { return [.all] }
        guard !requested.isEmpty else { throw APIError.badRequest("scopes must not be empty") }
        var scopes: [Scope] = []
        for name in requested {
            guard let scope = Scope(rawValue: name) else {
                throw APIError.badRequest("unknown scope \(name); scopes are \(Scope.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if !scopes.contains(scope) { scopes.append(scope) }
        }
        return scopes
    }

    /// A key as clients see it: never the hash; the key itself only on creation.
    private static func json(_ record: APIKeyRecord, key: String? = nil) -> JSONValue {
        var object = JSONObject([
            ("id", .string(record.id)), ("name", .string(record.name)), ("key_prefix", .string(record.keyPrefix)),
            ("scopes", .array(record.scopes.map { .string($0.rawValue) })), ("created_at", .string(record.createdAt.iso8601)),
            ("last_used_at", .string(record.lastUsedAt?.iso8601)), ("request_count", .int(record.requestCount)),
        ])
        if let key { object["key"] = .string(key) }
        return .object(object)
    }
}
