import FastCGI
import Storage

/// `GET /api/health`: liveness plus a database round trip.
struct HealthController {
    let store: any Store
    let version: String

    func register(on router: inout Router) {
        router.get("/api/health", auth: .none) { _ in
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
}
