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
    /// A write with a job token that a claim or a lost agent replaced: another agent may hold the job now.
    public static let jobReassigned = APIError(
        .conflict, "The job was reassigned", details: "a training agent's claim, or the loss of the agent that held the job, replaced its token",
        code: "JOB_REASSIGNED")
    public static let internalError = APIError(.internalServerError, "Internal server error")
    /// The request ran past `FTAPI_REQUEST_TIMEOUT_SECONDS`: its store or Hub work was cut short.
    public static let requestTimedOut = APIError(.gatewayTimeout, "Request timed out", code: "REQUEST_TIMEOUT")
}
