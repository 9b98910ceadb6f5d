import JSON

/// One documented operation of the API.
struct DocumentedOperation {
    var method: String
    /// The router's pattern, e.g. `/api/training/jobs/{id:uuid}`.
    var pattern: String
    var tag: String
    var summary: String
    var query: [(name: String, schema: JSONValue, description: String)] = []
    /// The query parameters of `query` that are required.
    var requiredQuery: Set<String> = []
    var requestBody: JSONValue?
    /// Bodies that are not application/json (JSON Lines, multipart), by media type.
    var requestContent: [(type: String, schema: JSONValue)] = []
    /// Status → (description, schema); errors get the Error schema.
    var responses: [(status: Int, description: String, schema: JSONValue?)]
    /// A file download: 200 and 206 carry JSON Lines, 304 and 416 no body.
    var download = false
    /// Operations (`"METHOD pattern"`) whose `{id}` is the `id` of this operation's created resource: OpenAPI links on the 201.
    var links: [String] = []
}

/// The OpenAPI 3.1 document of the API, built from `operations`. A test
/// keeps `operations` and the router's routes the same set.
enum OpenAPIDocument {
    static let pagination: [(name: String, schema: JSONValue, description: String)] = [
        ("limit", .object(["type": .string("integer"), "minimum": .int(1), "maximum": .int(200), "default": .int(50)]), "Page size."),
        (
            "offset", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(Page.maximumOffset), "default": .int(0)]),
            "Items to skip."
        ),
    ]

    /// The answers of both dataset downloads (sent by nginx from the stored file after the pool's X-Accel-Redirect).
    static let downloadResponses: [(status: Int, description: String, schema: JSONValue?)] = [
        (
            200,
            "The stored bytes (Content-Type application/x-ndjson, Content-Length, ETag \"<sha256>\", Content-Disposition attachment; "
                + "filename=\"<name>.jsonl\").",
            nil
        ),
        (206, "Range: bytes=a-b: those bytes, with Content-Range.", nil),
        (304, "If-None-Match names the ETag.", nil),
        (416, "The range starts past the end.", nil),
    ]

    static let operations: [DocumentedOperation] = [
        DocumentedOperation(
            method: "GET", pattern: "/api/health", tag: "health", summary: "Liveness and a database round trip.",
            responses: [(200, "Healthy.", Schema.ref("Health")), (503, "The database can't be reached.", Schema.ref("Health"))]),
        DocumentedOperation(
            method: "GET", pattern: "/api/openapi.json", tag: "health", summary: "This document.",
            responses: [(200, "The OpenAPI 3.1 document.", Schema.object)]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/stats", tag: "training", summary: "The caller's jobs counted by status.",
            responses: [(200, "Counts; total_jobs is their sum.", Schema.ref("TrainingStats"))]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/jobs", tag: "training", summary: "The caller's jobs, newest first.",
            query: pagination + [
                ("status", Schema.enumeration(Schema.statuses), "Only jobs in this status."),
                ("model_name", Schema.string, "Only jobs of this model."),
            ],
            responses: [(200, "A page of jobs.", Schema.list(Schema.ref("TrainingJob")))]),
        DocumentedOperation(
            method: "POST", pattern: "/api/training/jobs", tag: "training", summary: "Create a pending job.",
            requestBody: Schema.ref("NewTrainingJob"),
            responses: [(201, "The job, with its job_token (shown this once).", Schema.resource(Schema.ref("TrainingJob")))],
            links: [
                "GET /api/training/jobs/{id:uuid}", "PATCH /api/training/jobs/{id:uuid}", "POST /api/training/jobs/{id:uuid}/cancel",
                "POST /api/training/jobs/{id:uuid}/restart", "POST /api/training/jobs/{id:uuid}/metrics",
                "GET /api/training/jobs/{id:uuid}/metrics", "GET /api/training/jobs/{id:uuid}/dataset",
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/jobs/{id:uuid}", tag: "training", summary: "One job.",
            responses: [(200, "The job.", Schema.resource(Schema.ref("TrainingJob")))]),
        DocumentedOperation(
            method: "PATCH", pattern: "/api/training/jobs/{id:uuid}", tag: "training",
            summary: "Report progress or change status (trainer: the job's token, or a key/session with scope training).",
            requestBody: Schema.ref("TrainingJobUpdate"),
            responses: [
                (200, "The updated job.", Schema.resource(Schema.ref("TrainingJob"))),
                (409, "Illegal status transition (code INVALID_STATUS_TRANSITION).", nil),
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/jobs/{id:uuid}/dataset", tag: "training",
            summary:
                "Download the job's dataset (trainer: the job's token, or a key/session with scope training); the same bytes and headers as "
                + "GET /api/datasets/{id}/content.",
            responses: downloadResponses + [
                (404, "Not one of the caller's jobs, or the job has no dataset.", nil),
                (409, "The job's dataset was deleted (code DATASET_DELETED).", nil),
            ], download: true),
        DocumentedOperation(
            method: "POST", pattern: "/api/training/jobs/{id:uuid}/cancel", tag: "training", summary: "Cancel a job.",
            responses: [(200, "Cancelled.", Schema.ref("Action")), (409, "The job is already terminal (code INVALID_STATUS_TRANSITION).", nil)]),
        DocumentedOperation(
            method: "POST", pattern: "/api/training/jobs/{id:uuid}/restart", tag: "training",
            summary: "Start a new pending job like a failed or cancelled one.",
            responses: [
                (201, "The new job (resumed_from_job_id is the old one), with its job_token.", Schema.resource(Schema.ref("TrainingJob"))),
                (409, "The job is neither failed nor cancelled.", nil),
            ]),
        DocumentedOperation(
            method: "POST", pattern: "/api/training/jobs/{id:uuid}/metrics", tag: "training",
            summary:
                "Report 1–1000 metric points (trainer), or one point as the whole body (accepted: 1). Idempotent per step; the first points "
                + "start a pending job.",
            requestBody: .object(["oneOf": .array([Schema.ref("MetricsBatch"), Schema.ref("FineTuneLabMetricPoint")])]),
            responses: [(200, "Stored.", Schema.ref("MetricsAccepted")), (409, "The job is terminal (code JOB_TERMINAL).", nil)]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/jobs/{id:uuid}/metrics", tag: "training", summary: "A job's metric points by step.",
            query: [
                ("limit", .object(["type": .string("integer"), "minimum": .int(1), "maximum": .int(5000), "default": .int(1000)]), "Page size."),
                (
                    "offset", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(Page.maximumOffset), "default": .int(0)]),
                    "Points to skip."
                ),
                (
                    "since_step", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(TrainingStep.maximum)]),
                    "Only points with a larger step (incremental polling)."
                ),
            ],
            responses: [(200, "A page of points.", Schema.list(Schema.ref("MetricPoint")))]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/metrics/aggregate", tag: "training",
            summary: "Training figures across the caller's jobs, computed by the database.",
            query: [
                ("from", Schema.dateOrTime, "Jobs created at or after this date (YYYY-MM-DD, UTC) or time."),
                ("to", Schema.dateOrTime, "Jobs created before the end of this date (UTC) or before this time; from must be before to."),
                ("model_name", Schema.string, "Only jobs of this model."),
                ("group_by", Schema.enumeration(["model_name"]), "Add one entry per model under groups."),
            ],
            responses: [(200, "The aggregate.", Schema.ref("MetricsAggregate"))]),
        DocumentedOperation(
            method: "GET", pattern: "/api/analytics/dashboard", tag: "analytics",
            summary:
                "The caller's dashboard, computed by the database. Days are UTC dates. Every figure covers the caller's jobs and datasets "
                + "created in the range (from 00:00 UTC of from to the end of to, both days included); recent_failures are the newest failed "
                + "jobs of the range by completed_at, at most 10. success_rate = completed / (completed + failed + cancelled), null when none of "
                + "them finished. Durations run from started_at to completed_at of completed jobs that have both; p95 is the nearest rank (the "
                + "ceil(0.95 n)-th smallest); both null without such jobs.",
            query: [
                ("from", Schema.date, "First day (YYYY-MM-DD, UTC). Default: 29 days before to, so the default range is 30 days."),
                (
                    "to", Schema.date,
                    "Last day, included (YYYY-MM-DD, UTC). Default: today (UTC). from after to, or to more than 366 days after from, is a 400."
                ),
            ],
            responses: [(200, "The dashboard; created_per_day has one entry per day of the range, zeros included.", Schema.ref("Dashboard"))]),
        DocumentedOperation(
            method: "GET", pattern: "/api/models/search", tag: "models",
            summary:
                "Search the Hugging Face Hub's models (GET {HF_ENDPOINT}/api/models?search=&limit=&sort=&direction=-1). Answers are cached per "
                + "(query, offset + limit, sort) for FTAPI_MODELS_CACHE_SECONDS.",
            query: [
                (
                    "query",
                    .object([
                        "type": .string("string"), "minLength": .int(2), "maxLength": .int(200), "pattern": .string("\\S[\\s\\S]*\\S"),
                    ]), "Search text (required; at least 2 characters besides leading and trailing whitespace)."
                ),
                ("limit", .object(["type": .string("integer"), "minimum": .int(1), "maximum": .int(200), "default": .int(50)]), "Page size."),
                (
                    "offset", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(999), "default": .int(0)]),
                    "Models to skip; offset + limit is at most 1000."
                ),
                (
                    "sort",
                    .object([
                        "type": .string("string"), "enum": .array([.string("downloads"), .string("likes"), .string("last_modified")]),
                        "default": .string("downloads"),
                    ]), "Order, descending."
                ),
            ],
            requiredQuery: ["query"],
            responses: [
                (
                    200, "A page of models. total is how many the Hub returned for offset + limit (the Hub does not count every match).",
                    Schema.list(Schema.ref("HubModel"))
                ),
                (400, "query shorter than 2 characters, an unknown sort, or limit/offset out of range; details names the parameter.", nil),
                (
                    502,
                    "The Hub could not be reached, answered with an error (code UPSTREAM_ERROR), or sent an unreadable answer (code "
                        + "UPSTREAM_INVALID_RESPONSE).",
                    nil
                ),
                (504, "The Hub did not answer within FTAPI_HF_TIMEOUT_SECONDS (code UPSTREAM_TIMEOUT).", nil),
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/notifications/preferences", tag: "notifications",
            summary: "The caller's notification preferences; the defaults when never saved (reading stores nothing).",
            responses: [(200, "The preferences.", Schema.object([("data", Schema.ref("NotificationPreferences"))], required: ["data"]))]),
        DocumentedOperation(
            method: "POST", pattern: "/api/notifications/preferences", tag: "notifications",
            summary:
                "Change some preferences (partial update, upsert): only the fields given change; {} changes nothing. Every field is checked "
                + "before anything is stored.",
            requestBody: Schema.ref("NotificationPreferencesUpdate"),
            responses: [
                (200, "The stored preferences.", Schema.object([("data", Schema.ref("NotificationPreferences"))], required: ["data"])),
                (
                    400,
                    "Unknown field, wrong type, null where not allowed, out of range, bad email address or unknown time zone; details names "
                        + "the field.",
                    nil
                ),
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/user/api-keys", tag: "api-keys", summary: "The caller's active API keys (session token only).",
            query: pagination, responses: [(200, "A page of keys; never the key or its hash.", Schema.list(Schema.ref("APIKey")))]),
        DocumentedOperation(
            method: "POST", pattern: "/api/user/api-keys", tag: "api-keys", summary: "Create an API key (session token only).",
            requestBody: Schema.ref("NewAPIKey"),
            responses: [
                (201, "The key; data.key is shown this once.", Schema.resource(Schema.ref("APIKey"))),
                (409, "Name in use (code DUPLICATE_NAME).", nil),
            ], links: ["DELETE /api/user/api-keys/{id:uuid}"]),
        DocumentedOperation(
            method: "DELETE", pattern: "/api/user/api-keys/{id:uuid}", tag: "api-keys",
            summary: "Revoke an API key at once, in every worker (session token only).",
            responses: [(200, "Revoked.", Schema.ref("Action"))]),
        DocumentedOperation(
            method: "POST", pattern: "/api/datasets/validate", tag: "datasets",
            summary:
                "Validate a dataset as it streams in: JSON Lines (line numbers are the file's, blank lines counted), a JSON array (line is the "
                + "1-based position of the element), or a multipart file field. Up to 100 MiB by default.",
            query: [("format", Schema.enumeration(["auto"] + Schema.datasetFormats), "The format to check; auto (default) detects it.")],
            requestContent: datasetBodies(multipartFields: false) + [
                (
                    "application/json",
                    .object([
                        "anyOf": .array([
                            .object(["type": .string("array"), "minItems": .int(1)]),
                            .object(["type": .array(["object", "string", "number", "boolean", "null"].map { .string($0) })]),
                        ]),
                        "description": .string(
                            "A JSON array of examples. Any other body is read as JSON Lines and reported (200, valid false); an empty "
                                + "array is a 400."),
                    ])
                )
            ],
            responses: [
                (200, "The report; an invalid dataset is a 200 with valid false.", Schema.ref("DatasetValidation")),
                (400, "Empty body, or an unknown format.", nil),
            ]),
        DocumentedOperation(
            method: "POST", pattern: "/api/datasets", tag: "datasets",
            summary:
                "Store a dataset: validated while written, flushed to disk and renamed into place before its record is committed. Raw JSON "
                + "Lines take name and format from the query; multipart from its fields.",
            query: [
                ("name", Schema.datasetName, "Dataset name, unique per user (required for a raw body)."),
                ("format", Schema.enumeration(["auto"] + Schema.datasetFormats), "The format to check; auto (default) detects it."),
            ],
            requestContent: datasetBodies(multipartFields: true),
            responses: [
                (201, "The stored dataset.", Schema.resource(Schema.ref("Dataset"))),
                (400, "Invalid dataset (code INVALID_DATASET; details holds the validation report), or a missing name or file.", nil),
                (409, "Name in use (code DUPLICATE_NAME).", nil),
            ], links: ["GET /api/datasets/{id:uuid}", "GET /api/datasets/{id:uuid}/content", "DELETE /api/datasets/{id:uuid}"]),
        DocumentedOperation(
            method: "GET", pattern: "/api/datasets", tag: "datasets", summary: "The caller's datasets, newest first.",
            query: pagination, responses: [(200, "A page of datasets.", Schema.list(Schema.ref("Dataset")))]),
        DocumentedOperation(
            method: "GET", pattern: "/api/datasets/{id:uuid}", tag: "datasets", summary: "One dataset.",
            responses: [(200, "The dataset.", Schema.resource(Schema.ref("Dataset")))]),
        DocumentedOperation(
            method: "GET", pattern: "/api/datasets/{id:uuid}/content", tag: "datasets",
            summary: "Download a dataset's stored JSON Lines; ranges and If-None-Match work.",
            responses: downloadResponses + [(404, "Not one of the caller's datasets.", nil)], download: true),
        DocumentedOperation(
            method: "DELETE", pattern: "/api/datasets/{id:uuid}", tag: "datasets", summary: "Delete a dataset's record and file.",
            responses: [(200, "Deleted.", Schema.ref("Action")), (409, "A job that is not finished uses it (code DATASET_IN_USE).", nil)]),
    ]

    /// The dataset body types: JSON Lines under its usual names, and multipart.
    private static func datasetBodies(multipartFields: Bool) -> [(type: String, schema: JSONValue)] {
        // At least one line that is not blank (JSON whitespace only): a body of blank lines holds no example and is a 400.
        let notBlank = JSONValue.string("[^ \\t\\r\\n]")
        var fields: [(String, JSONValue)] = [
            ("file", .object(["type": .string("string"), "contentMediaType": .string("application/x-ndjson"), "pattern": notBlank]))
        ]
        if multipartFields {
            fields += [("name", Schema.datasetName), ("format", Schema.enumeration(["auto"] + Schema.datasetFormats))]
        }
        let lines = JSONValue.object([
            "type": .string("string"), "pattern": notBlank,
            "description": .string("JSON Lines: one example object per line; invalid lines are reported, not refused."),
        ])
        return [
            ("application/x-ndjson", lines), ("application/jsonl", lines),
            ("multipart/form-data", Schema.object(fields, required: multipartFields ? ["file", "name"] : ["file"])),
        ]
    }

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
        for operation in allOperations {
            guard let route = router.routes.first(where: { $0.method == operation.method && $0.pattern == operation.pattern }) else { continue }
            let path = openAPIPath(operation.pattern)
            var parameters: [JSONValue] =
                operation.pattern.contains("{id:uuid}")
                ? [.object(["name": .string("id"), "in": .string("path"), "required": .bool(true), "schema": Schema.uuid])] : []
            if operation.pattern.contains("{job:string}") {
                parameters.append(
                    .object([
                        "name": .string("job"), "in": .string("path"), "required": .bool(true), "schema": Schema.string,
                        "description": .string("The job's id (uuid) or its external_id."),
                    ]))
            }
            for item in operation.query {
                parameters.append(
                    .object([
                        "name": .string(item.name), "in": .string("query"), "required": .bool(operation.requiredQuery.contains(item.name)),
                        "schema": item.schema,
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
                route.auth, hasBody: hasBody, hasQuery: !operation.query.isEmpty, hasPathParameter: operation.pattern.contains("{"))
            for (status, description) in errors where responses[String(status)] == nil {
                responses[String(status)] = .object([
                    "description": .string(description), "content": .object(["application/json": .object(["schema": Schema.ref("Error")])]),
                ])
            }
            var item = JSONObject([
                ("operationId", .string(operationID(method: operation.method, path: path))),
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
            methods[operation.method.lowercased()] = .object(item)
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
                (429, "Rate limit exceeded (Retry-After)."),
                (503, "The database can't be reached (DATABASE_UNAVAILABLE) or has no free connection (DATABASE_BUSY); Retry-After."),
            ]
        }
        if hasBody { errors += [(400, "Invalid body; details names the field."), (413, "Body too large."), (415, "Unsupported content type.")] }
        if hasQuery { errors.append((400, "Invalid query parameter; details names it.")) }
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
