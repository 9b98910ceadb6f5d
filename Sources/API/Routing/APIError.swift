public import HTTPCore
public import JSON

/// An error a handler throws on purpose: it knows its status and its body
/// (`{"error", "details"?, "code"?}`). Anything else thrown becomes a bare 500.
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPStatus
    public var message: String
    public var details: String?
    /// Details that are a JSON value rather than a sentence (e.g. a dataset's validation report); wins over `details`.
    public var detailsValue: JSONValue?
    public var code: String?
    public var headers: [Header] = []

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    public init(_ status: HTTPStatus, _ message: String, details: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.details = details
        self.code = code
    }

    public func adding(header name: String, _ value: String) -> APIError {
        var copy = self
        copy.headers.append(Header(name: name, value: value))
        return copy
    }

    public var body: JSONValue {
        var object = JSONObject([("error", .string(message))])
        if let detailsValue {
            object["details"] = detailsValue
        } else if let details {
            object["details"] = .string(details)
        }
        if let code { object["code"] = .string(code) }
        return .object(object)
    }

    public static func badRequest(_ details: String, message: String = "Invalid request") -> APIError {
        APIError(.badRequest, message, details: details, code: "VALIDATION_ERROR")
    }

    public static let missingAuthorization = APIError(.unauthorized, "Missing authorization header")
    public static let unauthorized = APIError(.unauthorized, "Unauthorized")
    public static let insufficientScope = APIError(.forbidden, "Insufficient scope", code: "INSUFFICIENT_SCOPE")
    public static let notFound = APIError(.notFound, "Not found", code: "NOT_FOUND")
    public static let internalError = APIError(.internalServerError, "Internal server error")
}

extension Response {
    /// A JSON response with the contract's content type.
    public static func json(_ value: JSONValue, status: HTTPStatus = .ok, headers: [(name: String, value: String)] = []) -> Response {
        Response(status: status, headers: [("Content-Type", "application/json; charset=utf-8")] + headers, body: value.serialized())
    }

    /// `{"id": ..., "data": {...}}`
    public static func resource(id: String, data: JSONValue, status: HTTPStatus = .ok) -> Response {
        .json(.object(["id": .string(id), "data": data]), status: status)
    }

    /// `{"data": [...], "total": N, "limit": N, "offset": N}`
    public static func list(_ items: [JSONValue], total: Int, page: Page) -> Response {
        .json(.object(["data": .array(items), "total": .int(total), "limit": .int(page.limit), "offset": .int(page.offset)]))
    }

    /// `{"success": true, "message": ...}`
    public static func action(_ message: String) -> Response {
        .json(.object(["success": .bool(true), "message": .string(message)]))
    }

    /// The error's JSON body, status and headers.
    public static func error(_ error: APIError) -> Response {
        .json(error.body, status: error.status, headers: error.headers.map { ($0.name, $0.value) })
    }
}

/// `limit` and `offset` of a list request.
public struct Page: Sendable, Equatable {
    public var limit: Int
    public var offset: Int

    public static let defaultLimit = 50
    public static let maximumLimit = 200

    /// Reads `limit` (default 50, 1–200) and `offset` (default 0, ≥ 0); out of range is a 400.
    public init(query: QueryParameters, defaultLimit: Int = Page.defaultLimit, maximumLimit: Int = Page.maximumLimit) throws(APIError) {
        limit = try query.integer("limit", in: 1...maximumLimit) ?? defaultLimit
        offset = try query.integer("offset", in: 0...Int(Int32.max)) ?? 0
    }
}
