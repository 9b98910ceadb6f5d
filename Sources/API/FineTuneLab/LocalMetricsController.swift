import HTTPCore
import JSON
import Storage

/// FineTune Lab's metrics routes: the trainer's batch and single point, and the full history.
/// Points go through the contract's ingest (`TrainingMetricsController.ingest`): idempotent by
/// step, atomic, non-finite numbers refused, pending → running, terminal → 409.
struct LocalMetricsController {
    let jobs: any TrainingJobStore

    func register(on router: inout Router) {
        router.post("/api/training/local/metrics", auth: .namedJobTrainer) { context in
            let caller = try context.user
            let body = try context.jsonObject(allowingNonFiniteNumbers: true)
            try NamedJob.refuseForeignUser(in: body, caller: caller)
            let job = try NamedJob(jobs: jobs).find(in: body, for: caller)
            let points = try TrainingMetricsController.points(body["metrics"], fineTuneLab: true)
            guard try TrainingMetricsController.ingest(points, jobID: job.id, userID: job.userID, jobs: jobs, followsEpoch: true) != nil else {
                throw APIError.notFound
            }
            return .json(.object(["success": .bool(true), "count": .int(points.count)]))
        }

        router.put("/api/training/local/{job:string}/metrics", auth: .namedJobTrainer) { context in
            let caller = try context.user
            let body = try context.jsonObject(allowingNonFiniteNumbers: true)
            let job = try NamedJob(jobs: jobs).find(context.parameter("job"), for: caller)
            var point = body
            // The job is the path's; a body that names it as well must name the same one.
            if let named = point["job_id"] {
                guard case .string(let name) = named, NamedJob.names(job, name) else { throw APIError.unauthorized }
                point["job_id"] = nil
            }
            try NamedJob.refuseForeignUser(in: point, caller: caller)
            point["user_id"] = nil
            let parsed = try TrainingMetricsController.point(point, at: "", fineTuneLab: true)
            guard try TrainingMetricsController.ingest([parsed], jobID: job.id, userID: job.userID, jobs: jobs, followsEpoch: true) != nil else {
                throw APIError.notFound
            }
            return .json(.object(["success": .bool(true)]))
        }

        router.get("/api/training/local/{job:string}/metrics", auth: .scope(.training)) { context in
            let query = context.query
            let job = try NamedJob(jobs: jobs).find(context.parameter("job"), for: context.user)
            let sinceStep = try query.integer("since_step", in: 0...Int(TrainingStep.maximum))
            // Every point unless the caller pages: a limit of -1 is none in both stores.
            var (limit, offset) = (-1, 0)
            if query["limit"] != nil || query["offset"] != nil {
                let page = try Page(query: query, defaultLimit: 1000, maximumLimit: 5000)
                (limit, offset) = (page.limit, page.offset)
            }
            let (points, total) = try jobs.metrics(jobID: job.id, sinceStep: sinceStep.map(Int64.init), limit: limit, offset: offset)
            return Self.history(jobName: NamedJob.publicName(of: job), points: points, total: total)
        }
    }

    /// `{"job_id", "metrics": [...], "total"}`, written point by point into the body, with no JSON tree of the whole history.
    static func history(jobName: String, points: [MetricPoint], total: Int) -> Response {
        var body: [UInt8] = []
        body.reserveCapacity(64 + points.count * 320)
        body.append(contentsOf: #"{"job_id":"#.utf8)
        JSONValue.writeString(jobName, to: &body)
        body.append(contentsOf: #","metrics":["#.utf8)
        for (index, point) in points.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            TrainingMetricsController.json(point).write(to: &body)
        }
        body.append(contentsOf: #"],"total":"#.utf8)
        body.append(contentsOf: String(total).utf8)
        body.append(UInt8(ascii: "}"))
        return Response(status: .ok, headers: [("Content-Type", "application/json; charset=utf-8")], body: body)
    }
}
