public import HTTPCore
public import Logging

/// Everything a handler gets: the request, its typed path parameters, the
/// caller, the request id and a logger that carries it.
public struct RequestContext: Sendable {
    public var request: Request
    public var parameters: [String: String]
    public var principal: Principal?
    public var requestID: String
    private let baseLogger: Logger

    public init(request: Request, parameters: [String: String], principal: Principal?, requestID: String, logger: Logger) {
        self.request = request
        self.parameters = parameters
        self.principal = principal
        self.requestID = requestID
        self.baseLogger = logger
    }

    /// The application's logger with this request's `request.id`; made when asked for, so requests that log nothing pay nothing.
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "request.id"] = .string(requestID)
        return logger
    }

    /// The authenticated caller; routes with a requirement always have one.
    public var user: Principal {
        get throws(APIError) {
            guard let principal else { throw APIError.unauthorized }
            return principal
        }
    }

    public var query: QueryParameters { QueryParameters(request.query) }

    /// A path parameter that the route declared (already validated by its type).
    public func parameter(_ name: String) -> String { parameters[name] ?? "" }
}
