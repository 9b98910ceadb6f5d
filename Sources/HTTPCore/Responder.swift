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
    /// Called once when the worker has stopped serving, before it exits.
    func workerDidStop()
    /// Every route as metrics name it: its method and its pattern as the API document writes it
    /// (`/api/training/jobs/{id}`). Fixed for the responder's life.
    var routeLabels: [(method: String, pattern: String)] { get }
    /// The index in `routeLabels` of what `route` matched; nil when it matched no route (a 404 or 405).
    func routeLabelIndex(of route: Route) -> Int?
}

extension Responder {
    /// No labels: every request counts as unmatched.
    public var routeLabels: [(method: String, pattern: String)] { [] }
    public func routeLabelIndex(of route: Route) -> Int? { nil }

    /// Matches and answers in one call (in-process callers and tests; the transport calls the two steps).
    public func respond(to request: Request) -> Response {
        respond(to: request, route: route(method: request.method, path: request.path).route)
    }
}
