import Domain
import HTTPCore

/// Holds the serialized OpenAPI document, which can only be built once the
/// router is complete; encoded once, served as bytes.
final class OpenAPIBox: @unchecked Sendable {
    // @unchecked: written once during Application.init, before any request.
    var body: [UInt8] = []
}

/// `GET /api/health`: liveness plus a database round trip; `GET /api/openapi.json`.
struct HealthController {
    let store: any Store
    let version: String
    /// Built once, after every route is registered.
    let openAPI: OpenAPIBox

    func register(on router: inout Router) {
        router.get("/api/health", auth: .none, operation: .health, use: health)
        router.get("/api/openapi.json", auth: .none, operation: .openAPIDocument, use: document)
    }

    func document(_: RequestContext) -> Response {
        Response(status: .ok, headers: [("Content-Type", "application/json; charset=utf-8")], body: openAPI.body)
    }

    func health(_: RequestContext) -> Response {
        do {
            try store.ping()
            return .json(.object(["status": .string("ok"), "version": .string(version), "database": .string("ok")]))
        } catch {
            return .json(
                .object(["status": .string("unavailable"), "version": .string(version), "database": .string("unavailable")]),
                status: .serviceUnavailable
            )
        }
    }
}
