public import JSON

/// What the OpenAPI document says of one route beyond what the route itself gives (its method, path, path
/// parameters and security). A route is registered with its operation (`router.get(..., operation: .listTrainingJobs,
/// use: list)`), so the document has exactly the router's operations.
///
/// A class: a route holds one reference to it, and routes are copied on every request's match.
public final class OpenAPIOperation: Sendable {
    /// A query parameter, or a header the operation reads.
    public typealias QueryParameter = (name: String, schema: JSONValue, description: String)
    /// A response: status, description and schema (nil for the Error schema).
    public typealias Answer = (status: Int, description: String, schema: JSONValue?)

    let tag: String
    let summary: String
    let query: [QueryParameter]
    /// The query parameters of `query` that are required.
    let requiredQuery: Set<String>
    /// Headers the operation reads beside the credential's, each required.
    let headers: [QueryParameter]
    let requestBody: JSONValue?
    /// Bodies that are not application/json (JSON Lines, multipart), by media type.
    let requestContent: [(type: String, schema: JSONValue)]
    /// Errors not listed get the Error schema and the standard descriptions of their kind of route.
    let responses: [Answer]
    /// A file download: 200 and 206 carry JSON Lines, 304 and 416 no body.
    let download: Bool
    /// Operations (`"METHOD pattern"`) whose `{id}` is the `id` of this operation's created resource: OpenAPI links on the 201.
    let links: [String]

    public init(
        tag: String, summary: String, query: [QueryParameter] = [], requiredQuery: Set<String> = [], headers: [QueryParameter] = [],
        requestBody: JSONValue? = nil, requestContent: [(type: String, schema: JSONValue)] = [], responses: [Answer] = [], download: Bool = false,
        links: [String] = []
    ) {
        self.tag = tag
        self.summary = summary
        self.query = query
        self.requiredQuery = requiredQuery
        self.headers = headers
        self.requestBody = requestBody
        self.requestContent = requestContent
        self.responses = responses
        self.download = download
        self.links = links
    }
}

extension OpenAPIOperation {
    /// `limit` and `offset` of a list (`Page`).
    static let pagination: [QueryParameter] = [
        ("limit", .object(["type": .string("integer"), "minimum": .int(1), "maximum": .int(200), "default": .int(50)]), "Page size."),
        (
            "offset", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(Page.maximumOffset), "default": .int(0)]),
            "Items to skip."
        ),
    ]

    /// The answers of both dataset downloads (sent by nginx from the stored file after the pool's X-Accel-Redirect).
    static let downloadResponses: [Answer] = [
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
}
