import JSON

/// The OpenAPI operations of `DatasetController`'s routes.
extension OpenAPIOperation {
    static let validateDataset = OpenAPIOperation(
        tag: "datasets",
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
        ])

    static let uploadDataset = OpenAPIOperation(
        tag: "datasets",
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
        ], links: ["GET /api/datasets/{id:uuid}", "GET /api/datasets/{id:uuid}/content", "DELETE /api/datasets/{id:uuid}"])

    static let listDatasets = OpenAPIOperation(
        tag: "datasets", summary: "The caller's datasets, newest first.",
        query: pagination, responses: [(200, "A page of datasets.", Schema.list(Schema.ref("Dataset")))])

    static let showDataset = OpenAPIOperation(
        tag: "datasets", summary: "One dataset.",
        responses: [(200, "The dataset.", Schema.resource(Schema.ref("Dataset")))])

    static let downloadDataset = OpenAPIOperation(
        tag: "datasets",
        summary: "Download a dataset's stored JSON Lines; ranges and If-None-Match work.",
        responses: downloadResponses + [(404, "Not one of the caller's datasets.", nil)], download: true)

    static let downloadDatasetByToken = OpenAPIOperation(
        tag: "datasets",
        summary: "Download a dataset through a job's dataset_url, with no other credential; the same bytes and headers as its content route.",
        query: [("token", .object(["type": .string("string"), "minLength": .int(1)]), "The URL's token: names one dataset and an expiry.")],
        requiredQuery: ["token"],
        responses: downloadResponses + [
            (400, "No token.", nil), (401, "A token that has expired, was changed or forged, or whose dataset was deleted.", nil),
        ], download: true)

    static let deleteDataset = OpenAPIOperation(
        tag: "datasets", summary: "Delete a dataset's record and file.",
        responses: [(200, "Deleted.", Schema.ref("Action")), (409, "A job that is not finished uses it (code DATASET_IN_USE).", nil)])

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
}
