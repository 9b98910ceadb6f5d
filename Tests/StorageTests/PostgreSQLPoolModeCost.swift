import Domain
import Foundation
import Testing

@testable import Storage

#if canImport(Glibc)
import Glibc
#endif

/// What `DATABASE_POOL_MODE=transaction` costs against `session` on one server: the client's wall time and
/// the server backend's CPU time per store call, one call at a time on one connection. A measurement, not a
/// check: run on request (`FTAPI_MEASURE_POOL_MODE_COST=1`, `FTAPI_MEASURE_CALLS` calls of each kind, default 3,000);
/// it prints one line per mode and kind. Through pgbouncer (`FTAPI_TEST_DATABASE_POOL_MODE=transaction`) only the
/// transaction mode runs, and the server's CPU is not told apart from other clients'.
@Suite(
    "PostgreSQL pool mode cost",
    .enabled(if: StoreBackend.postgres != nil && ProcessInfo.processInfo.environment["FTAPI_MEASURE_POOL_MODE_COST"] == "1"))
struct PostgreSQLPoolModeCost {
    @Test func perCallCostOfEachPoolMode() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        let calls = ProcessInfo.processInfo.environment["FTAPI_MEASURE_CALLS"].flatMap { Int($0) } ?? 3000
        let throughPooler = StoreBackend.postgresPoolMode == .transaction
        let modes: [PostgreSQLPoolMode] = throughPooler ? [.transaction] : [.session, .transaction]
        for mode in modes {
            let name = "ftapi_cost_" + uuid().prefix(8)
            var configuration = StoreBackend.postgresConfiguration(
                url: url + (url.contains("?") ? "&" : "?") + "application_name=" + name, poolSize: 1)
            configuration.poolMode = mode
            let store = try PostgreSQLStore(configuration: configuration)
            defer { try? store.dropSchema() }
            try store.migrate()
            let seeded = job(userID: "u0")
            try store.trainingJobs.insert([seeded])
            let key = keyRecord(userID: "u0", name: "k")
            try store.apiKeys.insert(key)
            _ = try store.trainingJobs.statusCounts(userID: "u0")
            let backend = throughPooler ? nil : try Self.backendPID(url: url, applicationName: name)
            // What the handlers of three requests ask of the store, API key lookup included, each in a request's scope.
            let kinds: [(String, (Int) throws -> Void)] = [
                (
                    "GET /api/training/stats (key lookup, status counts: 2 lone statements)",
                    { _ in
                        try store.scope(nil) {
                            _ = try store.apiKeys.find(keyHash: key.keyHash)
                            _ = try store.trainingJobs.statusCounts(userID: "u0")
                        }
                    }
                ),
                (
                    "GET /api/training/jobs/:id (key lookup, the job: 2 lone statements)",
                    { _ in
                        try store.scope(nil) {
                            _ = try store.apiKeys.find(keyHash: key.keyHash)
                            _ = try store.trainingJobs.find(id: seeded.id, userID: "u0")
                        }
                    }
                ),
                (
                    "POST /api/training/jobs (key lookup, a write transaction inserting the job)",
                    { index in
                        try store.scope(nil) {
                            _ = try store.apiKeys.find(keyHash: key.keyHash)
                            try store.trainingJobs.insert([job(userID: "u\(index % 50)")])
                        }
                    }
                ),
            ]
            for (kind, call) in kinds {
                for index in 0..<200 { try call(index) }
                let cpuBefore = backend.map(Self.cpuSeconds) ?? 0
                let started = Date()
                for index in 0..<calls { try call(index) }
                let wall = Date().timeIntervalSince(started) / Double(calls) * 1e6
                let cpu = backend.map { (Self.cpuSeconds($0) - cpuBefore) / Double(calls) * 1e6 }
                print(
                    "pool mode \(mode.rawValue)\(throughPooler ? " via pgbouncer" : ""): \(kind): \(String(format: "%.1f", wall)) µs wall"
                        + (cpu.map { String(format: ", server backend CPU %.1f µs", $0) } ?? "") + " per call (\(calls) calls)")
            }
        }
    }

    /// The server process of the connection named `applicationName`.
    private static func backendPID(url: String, applicationName: String) throws -> Int32? {
        let connection = try PostgreSQLConnection(conninfo: url, schema: "public")
        return try connection.first("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [.text(applicationName)]) {
            Int32($0.int(0))
        }
    }

    /// User and system CPU seconds of process `pid` (`/proc/pid/stat`), 0 when it can't be read.
    private static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
