import JSON

/// The OpenAPI operation of `ModelSearchController`'s route.
extension OpenAPIOperation {
    static let searchModels = OpenAPIOperation(
        tag: "models",
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
        ])
}
