import Domain
import Essentials
import HTTPCore
import JSON

/// Training routes (scope `training`).
struct TrainingController {
    let jobs: any TrainingJobStore

    func register(on router: inout Router) {
        router.get("/api/training/stats", auth: .scope(.training), operation: .trainingStats, use: stats)
    }

    func stats(_ context: RequestContext) throws -> Response {
        let counts = try jobs.statusCounts(userID: context.user.userID)
        return .json(serialized: Self.statsBody(counts))
    }

    /// The seed's shape plus `paused`; `total_jobs` is the sum of the buckets. Written straight into
    /// bytes: the busiest route of the product needs no JSON tree for seven numbers.
    private static func statsBody(_ counts: JobStatusCounts) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(160)
        func field(_ key: StaticString, _ value: Int) {
            Bytes.appendLiteral(key, to: &body)
            JSONValue.writeInteger(Int64(value), to: &body)
        }
        field(#"{"total_jobs":"#, counts.total)
        field(#","completed":"#, counts[.completed])
        field(#","running":"#, counts[.running])
        field(#","failed":"#, counts[.failed])
        field(#","pending":"#, counts[.pending])
        field(#","cancelled":"#, counts[.cancelled])
        field(#","paused":"#, counts[.paused])
        body.append(UInt8(ascii: "}"))
        return body
    }
}
