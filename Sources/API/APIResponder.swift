import Domain
import Essentials
public import HTTPCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The application as the transport sees it: matches a request's route once,
/// admits it through the auth gate, runs its handler, and turns every outcome
/// into a JSON response with an `X-Request-Id` and one access-log line.
public struct APIResponder: Responder {
    public let router: Router
    let gate: AuthGate
    let logger: Logger
    /// Nil when the access log is off.
    let accessLog: AccessLog?
    let usage: UsageRecorder
    /// Scopes each request's store work (one pooled connection per request).
    let store: any Store

    /// Every route as the pool's metrics name it: its method and its pattern as the API document writes it
    /// (`/api/training/jobs/{id}`).
    public var routeLabels: [(method: String, pattern: String)] { router.labels }

    /// The index in `routeLabels` of what `match` found; nil when it matched no route (a 404 or 405).
    public func routeLabelIndex(of match: Router.Match) -> Int? {
        if case .found(let route, _) = match { return route.index }
        return nil
    }

    public func route(method: String, path: String) -> (route: Router.Match, body: BodyHandling) {
        let match = router.match(method: method, path: path)
        return (match, match.body)
    }

    public func respond(to request: Request, route match: Router.Match) -> Response {
        let started = Clocks.monotonicSeconds()
        let requestID = RequestID.make(from: request.headers["x-request-id"])
        request.clock?.requestID = requestID
        var principal: Principal?
        var response: Response
        do {
            response = try store.scope(request.clock) { try answer(request, match: match, requestID: requestID, principal: &principal) }
        } catch let refusal as AuthGate.Refusal {
            principal = refusal.principal
            response = errorResponse(refusal.error, request: request, requestID: requestID)
        } catch {
            response = errorResponse(error, request: request, requestID: requestID)
        }
        response.headers.append(("X-Request-Id", requestID))
        accessLog?.record(
            requestID: requestID, method: request.method, path: request.path, status: response.status.code,
            durationSeconds: Clocks.monotonicSeconds() - started, principal: principal
        )
        return response
    }

    /// Writes pending API-key usage and access-log lines before the worker exits.
    public func workerDidStop() {
        usage.flush()
        accessLog?.flushAll()
    }

    private func answer(_ request: Request, match: Router.Match, requestID: String, principal: inout Principal?) throws -> Response {
        if let rejection = request.rejection { throw APIError(rejection) }
        let route: Router.Route
        let parameters: [String: String]
        switch match {
        case .notFound:
            throw APIError.notFound
        case .methodNotAllowed(let allow):
            throw APIError(.methodNotAllowed, "Method not allowed", details: "\(request.method) is not allowed here", code: "METHOD_NOT_ALLOWED")
                .adding(header: "Allow", allow.joined(separator: ", "))
        case .found(let found, let bound):
            route = found
            parameters = bound
        }
        let admission = try gate.admit(request.headers, to: route.auth, parameters: parameters, now: Clocks.wallSeconds())
        principal = admission.principal
        let context = RequestContext(request: request, parameters: parameters, principal: principal, requestID: requestID, logger: logger)
        do {
            var response = try route.handler(context)
            response.headers.append(contentsOf: admission.headers)
            return response
        } catch let error as APIError {
            throw error.withHeaders(admission.headers)
        } catch let refusal as JobTransitionError {
            throw APIError(refusal).withHeaders(admission.headers)
        } catch is JobReassignedError {
            throw APIError.jobReassigned.withHeaders(admission.headers)
        }
    }

    /// An `APIError` answers as itself, a database that is down or busy as a 503;
    /// anything else is logged and answers a bare 500.
    private func errorResponse(_ error: any Error, request: Request, requestID: String) -> Response {
        if let error = error as? APIError {
            if error.code == APIError.requestTimedOut.code { request.clock?.noteDeadlineEnded() }
            return .error(error)
        }
        if let storeError = error as? StoreError, let answer = APIError(storeError) {
            if storeError == .timedOut { request.clock?.noteDeadlineEnded() }
            logger.warning("\(storeError)", metadata: ["request.id": "\(requestID)", "http.path": "\(request.path)"])
            return .error(answer)
        }
        logger.error("unexpected error", metadata: ["request.id": "\(requestID)", "error": "\(error)", "http.path": "\(request.path)"])
        return .error(.internalError)
    }
}

extension APIError {
    /// The answer to a request the transport could not hand over whole.
    init(_ rejection: TransportRejection) {
        switch rejection {
        case .bodyTooLarge(let limit):
            self = APIError(.contentTooLarge, "Request body too large", details: "the limit is \(limit) bytes", code: "PAYLOAD_TOO_LARGE")
        case .paramsTooLarge(let limit):
            self = APIError(.headerFieldsTooLarge, "Request headers too large", details: "the limit is \(limit) bytes")
        case .bodyIncomplete:
            self = .badRequest("the body ended before Content-Length bytes", message: "Incomplete request body")
        case .invalidContentLength:
            self = .badRequest("Content-Length must be a non-negative integer", message: "Invalid Content-Length")
        case .streamedBodiesBusy(let limit):
            self = APIError(
                .serviceUnavailable, "Too many uploads in progress", details: "this worker reads at most \(limit) streamed bodies at once",
                code: "UPLOADS_BUSY"
            ).adding(header: "Retry-After", "1")
        }
    }

    /// A copy with `headers` added (the rate-limit headers every answer to an API key carries).
    func withHeaders(_ headers: [(name: String, value: String)]) -> APIError {
        guard !headers.isEmpty else { return self }
        var copy = self
        copy.headers.append(contentsOf: headers.map { Header(name: $0.name, value: $0.value) })
        return copy
    }
}
