import JSON

/// The OpenAPI operations of `HealthController`'s routes.
extension OpenAPIOperation {
    static let health = OpenAPIOperation(
        tag: "health", summary: "Liveness and a database round trip.",
        responses: [(200, "Healthy.", Schema.ref("Health")), (503, "The database can't be reached.", Schema.ref("Health"))])

    static let openAPIDocument = OpenAPIOperation(
        tag: "health", summary: "This document.",
        responses: [(200, "The OpenAPI 3.1 document.", Schema.object)])
}
