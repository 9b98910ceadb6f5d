import HTTPCore
import JSON
import Storage

/// Training routes (scope `training`).
struct TrainingController {
    let jobs: any TrainingJobStore

    func register(on router: inout Router) {
        router.get("/api/training/stats", auth: .scope(.training)) { context in
            let counts = try jobs.statusCounts(userID: context.user.userID)
            return .json(serialized: Self.statsBody(counts))
        }
    }

    /// The seed's shape plus `paused`; `total_jobs` is the sum of the buckets. Written straight into
    /// bytes: the busiest route of the product needs no JSON tree for seven numbers.
    static func statsBody(_ counts: JobStatusCounts) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(160)
        let fields: [(key: StaticString, value: Int)] = [
            (#"{"total_jobs":"#, counts.total), (#","completed":"#, counts[.completed]), (#","running":"#, counts[.running]),
            (#","failed":"#, counts[.failed]), (#","pending":"#, counts[.pending]), (#","cancelled":"#, counts[.cancelled]),
            (#","paused":"#, counts[.paused]),
        ]
        for field in fields {
            body.append(contentsOf: UnsafeBufferPointer(start: field.key.utf8Start, count: field.key.utf8CodeUnitCount))
            JSONValue.writeInteger(Int64(field.value), to: &body)
        }
        body.append(UInt8(ascii: "}"))
        return body
    }
}
