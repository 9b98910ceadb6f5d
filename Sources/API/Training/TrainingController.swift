import HTTPCore
import JSON
import Storage

/// Training routes (scope `training`).
struct TrainingController {
    let jobs: any TrainingJobStore

    func register(on router: inout Router) {
        router.get("/api/training/stats", auth: .scope(.training)) { context in
            let counts = try jobs.statusCounts(userID: context.user.userID)
            return .json(Self.statsBody(counts))
        }
    }

    /// The seed's shape plus `paused`; `total_jobs` is the sum of the buckets.
    static func statsBody(_ counts: JobStatusCounts) -> JSONValue {
        .object([
            "total_jobs": .int(counts.total), "completed": .int(counts[.completed]), "running": .int(counts[.running]),
            "failed": .int(counts[.failed]), "pending": .int(counts[.pending]), "cancelled": .int(counts[.cancelled]),
            "paused": .int(counts[.paused]),
        ])
    }
}
