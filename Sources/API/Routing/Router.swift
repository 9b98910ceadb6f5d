import Essentials
public import HTTPCore

/// A handler: synchronous, called on the accept thread that holds the request. Usually a controller's
/// method (`router.get(..., use: list)`): the controllers are Sendable structs, so their methods are too.
public typealias Handler = @Sendable (RequestContext) throws -> Response

/// The type a path parameter must have.
public enum ParameterType: Sendable {
    /// A UUID, matched case-insensitively and handed over in lowercase.
    case uuid
    /// Any non-empty segment.
    case string
}

/// Maps `/api/<domain>/<resource>[/<id>][/<action>]` paths to handlers.
///
/// Patterns are written with typed parameters: `/api/training/jobs/{id:uuid}/cancel`.
/// A path that no route matches is a 404; a path some route matches with
/// another method is a 405 with `Allow` (HEAD listed with GET). Each route carries its
/// OpenAPI operation: the API document is built from `routes` alone.
public struct Router: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String, ParameterType)

        static func == (lhs: Segment, rhs: Segment) -> Bool {
            switch (lhs, rhs) {
            case (.literal(let a), .literal(let b)): a == b
            case (.parameter(let a, _), .parameter(let b, _)): a == b
            default: false
            }
        }
    }

    /// A class, so that handing a match around (route, then gate, then handler) copies one reference, not its fields.
    public final class Route: Sendable {
        public let method: String
        public let pattern: String
        public let auth: AuthRequirement
        /// How the transport hands this route's body over: read whole (the default) or streamed, with the route's own limit.
        public let body: BodyHandling
        /// The route's place in `routes`: its metrics label.
        public let index: Int
        /// What the OpenAPI document says of the route.
        public let operation: OpenAPIOperation
        let segments: [Segment]
        let handler: Handler

        init(
            method: String, pattern: String, auth: AuthRequirement, body: BodyHandling, index: Int, operation: OpenAPIOperation,
            segments: [Segment], handler: @escaping Handler
        ) {
            self.method = method
            self.pattern = pattern
            self.auth = auth
            self.body = body
            self.index = index
            self.operation = operation
            self.segments = segments
            self.handler = handler
        }
    }

    public private(set) var routes: [Route] = []

    public init() {}

    /// Registers `handler` for `method` and `pattern`, documented by `operation`; `body: .streamed(maxBytes:)` leaves the
    /// body for the handler to read as it arrives.
    public mutating func add(
        _ method: String, _ pattern: String, auth: AuthRequirement, body: BodyHandling = .buffered, operation: OpenAPIOperation,
        use handler: @escaping Handler
    ) {
        let segments = pattern.split(separator: "/").map { part -> Segment in
            guard part.hasPrefix("{"), part.hasSuffix("}") else { return .literal(String(part)) }
            let inner = part.dropFirst().dropLast().split(separator: ":", maxSplits: 1)
            let type: ParameterType = inner.count > 1 && inner[1] == "string" ? .string : .uuid
            return .parameter(String(inner[0]), type)
        }
        routes.append(
            Route(
                method: method, pattern: pattern, auth: auth, body: body, index: routes.count, operation: operation, segments: segments,
                handler: handler))
    }

    public mutating func get(_ pattern: String, auth: AuthRequirement, operation: OpenAPIOperation, use handler: @escaping Handler) {
        add("GET", pattern, auth: auth, operation: operation, use: handler)
    }

    public mutating func post(
        _ pattern: String, auth: AuthRequirement, body: BodyHandling = .buffered, operation: OpenAPIOperation, use handler: @escaping Handler
    ) {
        add("POST", pattern, auth: auth, body: body, operation: operation, use: handler)
    }

    public mutating func put(_ pattern: String, auth: AuthRequirement, operation: OpenAPIOperation, use handler: @escaping Handler) {
        add("PUT", pattern, auth: auth, operation: operation, use: handler)
    }

    public mutating func patch(_ pattern: String, auth: AuthRequirement, operation: OpenAPIOperation, use handler: @escaping Handler) {
        add("PATCH", pattern, auth: auth, operation: operation, use: handler)
    }

    public mutating func delete(_ pattern: String, auth: AuthRequirement, operation: OpenAPIOperation, use handler: @escaping Handler) {
        add("DELETE", pattern, auth: auth, operation: operation, use: handler)
    }

    /// Each route's method and pattern as the API document writes it (`{id}` without its type), by `Route.index`.
    public var labels: [(method: String, pattern: String)] {
        routes.map { route in
            let parts = route.segments.map { segment in
                switch segment {
                case .literal(let text): text
                case .parameter(let name, _): "{\(name)}"
                }
            }
            return (route.method, "/" + parts.joined(separator: "/"))
        }
    }

    public enum Match: Sendable {
        case found(Route, parameters: [String: String])
        case methodNotAllowed(allow: [String])
        case notFound

        /// How the matched route's body is read; a request that matched no route has its body read whole (and refused).
        public var body: BodyHandling {
            if case .found(let route, _) = self { return route.body }
            return .buffered
        }
    }

    /// The most segments a path may have and still match a route; no pattern comes near it.
    private static let maximumSegments = 16

    /// Finds the route for `method` and `path`.
    public func match(method: String, path: String) -> Match {
        var path = path
        // The path's segments as byte ranges, compared with each pattern's without building a String for either.
        return path.withUTF8 { bytes in
            withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: Self.maximumSegments) { parts in
                var count = 0
                var index = 0
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "/") {
                        index += 1
                        continue
                    }
                    let start = index
                    while index < bytes.count && bytes[index] != UInt8(ascii: "/") { index += 1 }
                    guard count < Self.maximumSegments else { return .notFound }
                    parts[count] = start..<index
                    count += 1
                }
                return match(method: method, path: bytes, parts: UnsafeBufferPointer(rebasing: parts[..<count]))
            }
        }
    }

    private func match(method: String, path: UnsafeBufferPointer<UInt8>, parts: UnsafeBufferPointer<Range<Int>>) -> Match {
        var allowed: [String] = []
        for route in routes {
            guard let parameters = Self.bind(route.segments, to: parts, of: path) else { continue }
            if route.method == method || (method == "HEAD" && route.method == "GET") {
                return .found(route, parameters: parameters)
            }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        // A GET route serves HEAD too, so Allow names it.
        if let get = allowed.firstIndex(of: "GET") { allowed.insert("HEAD", at: get + 1) }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allow: allowed)
    }

    private static func bind(_ segments: [Segment], to parts: UnsafeBufferPointer<Range<Int>>, of path: UnsafeBufferPointer<UInt8>) -> [String:
        String]?
    {
        guard segments.count == parts.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, range) in zip(segments, parts) {
            let part = UnsafeBufferPointer(rebasing: path[range])
            switch segment {
            case .literal(let literal):
                guard part.holds(literal) else { return nil }
            case .parameter(let name, .string):
                parameters[name] = String(decoding: part, as: UTF8.self)
            case .parameter(let name, .uuid):
                guard let uuid = canonicalUUID(String(decoding: part, as: UTF8.self)) else { return nil }
                parameters[name] = uuid
            }
        }
        return parameters
    }

}
