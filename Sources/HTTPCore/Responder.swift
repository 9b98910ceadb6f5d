/// Turns requests into responses. The transport asks `route` once a request's
/// head has arrived, reads the body as the route declares, then calls `respond`
/// with what `route` found: a request's route is matched once.
///
/// Called concurrently from every accept thread of a worker, so
/// implementations must be thread-safe.
public protocol Responder: Sendable {
    /// What `route` found for a request, handed back to `respond`.
    associatedtype Route: Sendable

    /// Matches the route of `method` and `path`, before any of the body is read, and says how its body is delivered.
    func route(method: String, path: String) -> (route: Route, body: BodyHandling)
    /// The response to `request`, whose route `route` matched.
    func respond(to request: Request, route: Route) -> Response
}

extension Responder {
    /// Matches and answers in one call (in-process callers and tests; the transport calls the two steps).
    public func respond(to request: Request) -> Response {
        respond(to: request, route: route(method: request.method, path: request.path).route)
    }
}
