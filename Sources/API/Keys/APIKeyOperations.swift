import JSON

/// The OpenAPI operations of `APIKeyController`'s routes.
extension OpenAPIOperation {
    static let listAPIKeys = OpenAPIOperation(
        tag: "api-keys", summary: "The caller's active API keys (session token only).",
        query: pagination, responses: [(200, "A page of keys; never the key or its hash.", Schema.list(Schema.ref("APIKey")))])

    static let createAPIKey = OpenAPIOperation(
        tag: "api-keys", summary: "Create an API key (session token only).",
        requestBody: Schema.ref("NewAPIKey"),
        responses: [
            (201, "The key; data.key is shown this once.", Schema.resource(Schema.ref("APIKey"))),
            (409, "Name in use (code DUPLICATE_NAME).", nil),
        ], links: ["DELETE /api/user/api-keys/{id:uuid}"])

    static let revokeAPIKey = OpenAPIOperation(
        tag: "api-keys",
        summary: "Revoke an API key at once, in every worker (session token only).",
        responses: [(200, "Revoked.", Schema.ref("Action"))])
}
