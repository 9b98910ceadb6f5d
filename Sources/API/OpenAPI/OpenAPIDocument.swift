import JSON

/// The OpenAPI 3.1 document of the API, built from the router's routes: each route's method, path,
/// path parameters and security, and the operation it was registered with.
enum OpenAPIDocument {
    /// OpenAPI links from a created resource's `id` to the `{id}` of `targets` (`"METHOD pattern"`).
    private static func links(_ targets: [String]) -> JSONValue {
        var links = JSONObject()
        for target in targets {
            let parts = target.split(separator: " ", maxSplits: 1).map(String.init)
            let id = operationID(method: parts[0], path: openAPIPath(parts[1]))
            links[id] = .object(["operationId": .string(id), "parameters": .object(["id": .string("$response.body#/id")])])
        }
        return .object(links)
    }

    /// `/api/x/{id:uuid}` → `/api/x/{id}`
    static func openAPIPath(_ pattern: String) -> String {
        pattern.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix("{") ? "{" + part.dropFirst().prefix { $0 != ":" && $0 != "}" } + "}" : String(part)
        }.joined(separator: "/")
    }

    /// The path parameters of `pattern` (`{name:type}` segments), each with its schema and, where the name needs one, a description.
    static func pathParameters(_ pattern: String) -> [JSONValue] {
        pattern.split(separator: "/").filter { $0.hasPrefix("{") }.map { part in
            let inner = part.dropFirst().dropLast()
            let name = String(inner.prefix { $0 != ":" })
            var parameter = JSONObject([
                ("name", .string(name)), ("in", .string("path")), ("required", .bool(true)),
                ("schema", inner.hasSuffix(":uuid") ? Schema.uuid : Schema.string),
            ])
            if let description = pathParameterDescriptions[name] { parameter["description"] = .string(description) }
            return .object(parameter)
        }
    }

    private static let pathParameterDescriptions = [
        "job": "The job's id (uuid) or its external_id.", "jobId": "The job's id (uuid).",
        "agent_id": "The agent's id (agent_ and 4 to 94 characters of [A-Za-z0-9_-]).",
    ]

    static func security(_ auth: AuthRequirement) -> JSONValue {
        switch auth {
        case .none: .array([])
        case .session: .array([.object(["sessionToken": .array([])])])
        case .scope, .trainer, .namedJobTrainer:
            .array([
                .object(["apiKey": .array([])]), .object(["workspaceApiKey": .array([])]), .object(["sessionToken": .array([])]),
            ])
        }
    }

    /// The document for the routes of `router`.
    static func build(router: Router, version: String) -> JSONValue {
        var paths = JSONObject()
        for route in router.routes {
            let operation = route.operation
            let path = openAPIPath(route.pattern)
            var parameters = pathParameters(route.pattern)
            for item in operation.query {
                parameters.append(
                    .object([
                        "name": .string(item.name), "in": .string("query"), "required": .bool(operation.requiredQuery.contains(item.name)),
                        "schema": item.schema,
                        "description": .string(item.description),
                    ]))
            }
            for item in operation.headers {
                parameters.append(
                    .object([
                        "name": .string(item.name), "in": .string("header"), "required": .bool(true), "schema": item.schema,
                        "description": .string(item.description),
                    ]))
            }
            var responses = JSONObject()
            for response in operation.responses {
                let schema = response.schema ?? Schema.ref("Error")
                var answer = JSONObject([("description", .string(response.description))])
                switch (operation.download, response.status) {
                case (true, 200), (true, 206):
                    answer["content"] = .object(["application/x-ndjson": .object(["schema": Schema.string])])
                case (true, 304), (true, 416):
                    break
                default:
                    answer["content"] = .object(["application/json": .object(["schema": schema])])
                }
                if response.status == 201, !operation.links.isEmpty { answer["links"] = links(operation.links) }
                responses[String(response.status)] = .object(answer)
            }
            let hasBody = operation.requestBody != nil || !operation.requestContent.isEmpty
            let errors = standardErrors(
                route.auth, hasBody: hasBody, hasQuery: !operation.query.isEmpty || !operation.headers.isEmpty,
                hasPathParameter: route.pattern.contains("{"))
            for (status, description) in errors where responses[String(status)] == nil {
                responses[String(status)] = .object([
                    "description": .string(description), "content": .object(["application/json": .object(["schema": Schema.ref("Error")])]),
                ])
            }
            var item = JSONObject([
                ("operationId", .string(operationID(method: route.method, path: path))),
                ("tags", .array([.string(operation.tag)])), ("summary", .string(operation.summary)),
                ("security", security(route.auth)), ("parameters", .array(parameters)), ("responses", .object(responses)),
            ])
            if hasBody {
                var content = JSONObject()
                if let body = operation.requestBody { content["application/json"] = .object(["schema": body]) }
                for (type, schema) in operation.requestContent { content[type] = .object(["schema": schema]) }
                item["requestBody"] = JSONValue.object(["required": JSONValue.bool(true), "content": .object(content)])
            }
            var methods = paths[path].flatMap { if case .object(let object) = $0 { object } else { nil } } ?? JSONObject()
            methods[route.method.lowercased()] = .object(item)
            paths[path] = .object(methods)
        }
        return .object([
            "openapi": .string("3.1.0"),
            "info": .object([
                "title": .string("Fine-tuning platform API"), "version": .string(version),
                "description": .string(
                    "Timestamps are ISO 8601 in UTC. Errors are {error, details?, code?}. API-key responses carry X-RateLimit-Limit, "
                        + "X-RateLimit-Remaining and X-RateLimit-Reset; 429 carries Retry-After."
                ),
            ]),
            "paths": .object(paths),
            "components": .object([
                "schemas": .object(JSONObject(Schema.components)),
                "securitySchemes": .object([
                    "apiKey": .object([
                        "type": .string("apiKey"), "in": .string("header"), "name": .string("X-API-Key"),
                        "description": .string("wak_ + 32 base62 characters; also accepted as Authorization: Bearer wak_…"),
                    ]),
                    "workspaceApiKey": .object(["type": .string("apiKey"), "in": .string("header"), "name": .string("X-Workspace-API-Key")]),
                    "sessionToken": .object([
                        "type": .string("http"), "scheme": .string("bearer"), "bearerFormat": .string("JWT"),
                        "description": .string(
                            "A Supabase access token (HS256, or ES256/RS256 from the configured JWKS). Trainer routes also take the job's own "
                                + "token (wjt_…) here."
                        ),
                    ]),
                ]),
            ]),
        ])
    }

    /// The errors every operation of its kind can answer: the router's, the auth gate's, and those of reading a body or a query.
    private static func standardErrors(_ auth: AuthRequirement, hasBody: Bool, hasQuery: Bool, hasPathParameter: Bool) -> [(Int, String)] {
        var errors: [(Int, String)] = [
            (500, "Unexpected error (nothing leaked)."), (431, "Request headers too large (FTAPI_MAX_PARAMS_BYTES, or nginx's buffers)."),
        ]
        if auth != .none {
            errors += [
                (401, "Missing or invalid credential."), (403, "Credential without the needed scope (code INSUFFICIENT_SCOPE)."),
                (503, "The database can't be reached (DATABASE_UNAVAILABLE) or has no free connection (DATABASE_BUSY); Retry-After."),
            ]
        }
        // Only routes an API key may use count it against its rate limit; a key on a session-only route is a 403.
        if auth != .none && auth != .session { errors.append((429, "Rate limit exceeded (Retry-After).")) }
        if hasBody { errors += [(400, "Invalid body; details names the field."), (413, "Body too large."), (415, "Unsupported content type.")] }
        if hasQuery { errors.append((400, "Invalid query parameter or header; details names it.")) }
        if hasPathParameter { errors.append((404, "Not found: no such resource of the caller's (another user's is a 404 too).")) }
        return errors
    }
}

/// `GET /api/training/jobs/{id}` → `getApiTrainingJobsId`
private func operationID(method: String, path: String) -> String {
    method.lowercased()
        + path.split(separator: "/").map { part in
            let word = part.filter { $0 != "{" && $0 != "}" && $0 != "." && $0 != "-" }
            return word.prefix(1).uppercased() + word.dropFirst()
        }.joined()
}
