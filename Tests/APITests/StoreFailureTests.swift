import API
import Domain
import Foundation
import HTTPCore
import JSON
import Logging
import Storage
import Testing

/// What clients see when the database goes away under a running worker.
@Suite struct StoreFailureTests {
    @Test func unreachableDatabaseGives503JSONAndUnavailableHealth() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The database file sits in a directory that is removed before the
        // first query: opening it then fails like a lost volume would.
        let store = SQLiteStore(configuration: SQLiteConfiguration(path: directory + "/gone/t.db"))
        let app = Application(
            store: store,
            sessionTokens: SessionTokenVerifier(configuration: SessionTokenConfiguration(hmacSecret: Array("s".utf8))),
            rateLimiter: nil, datasetFiles: DatasetFiles(dataDirectory: directory),
            settings: APISettings(version: "test", accessLog: false),
            logger: Logger(label: "test")
        )
        let token = SessionTokenVerifier.mintHS256(
            secret: Array("s".utf8), userID: "u1", audience: "authenticated", now: Date().timeIntervalSince1970, ttlSeconds: 60)

        let stats = app.responder.respond(
            to: Request(method: "GET", path: "/api/training/stats", headers: HeaderFields(["Authorization": "Bearer \(token)"])))
        #expect(stats.status.code == 503)
        #expect(stats.header("Retry-After") == "1")
        #expect(
            try JSONValue.parse(stats.body)
                == .object([
                    "error": .string("Database unavailable"), "details": .string("try again shortly"), "code": .string("DATABASE_UNAVAILABLE"),
                ]))
        #expect(stats.header("X-Request-Id") != nil)

        let health = app.responder.respond(to: Request(method: "GET", path: "/api/health"))
        #expect(health.status.code == 503)
        let body = try JSONValue.parse(health.body)
        guard case .object(let object) = body else {
            Issue.record("health body is not an object")
            return
        }
        #expect(object["database"] == .string("unavailable"))
    }
}
