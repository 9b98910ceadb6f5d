import Domain
import HTTPCore
import JSON

/// FineTune Lab's metrics routes: the trainer's batch and single point, and the full history.
/// Points go through the contract's ingest (`TrainingService.ingest`): idempotent by step,
/// atomic, non-finite numbers refused, pending → running, terminal → 409.
struct LocalMetricsController {
    let training: TrainingService
    let jobs: NamedJob

    func register(on router: inout Router) {
        router.post("/api/training/local/metrics", auth: .namedJobTrainer, operation: .reportLocalMetrics, use: report)
        router.put("/api/training/local/{job:string}/metrics", auth: .namedJobTrainer, operation: .reportLocalMetricPoint, use: reportPoint)
        router.get("/api/training/local/{job:string}/metrics", auth: .scope(.training), operation: .listLocalMetrics, use: history)
    }

    func report(_ context: RequestContext) throws -> Response {
        let caller = try context.user
        let body = try context.jsonObject(allowingNonFiniteNumbers: true)
        try NamedJob.refuseForeignUser(in: body, caller: caller)
        let job = try jobs.find(in: body, for: caller)
        let points = try MetricPointReader.fineTuneLab.points(body["metrics"])
        try training.ingest(points, jobID: job.id, userID: job.userID, tokenHash: caller.jobTokenHash, followsEpoch: true)
        return .json(.object(["success": .bool(true), "count": .int(points.count)]))
    }

    func reportPoint(_ context: RequestContext) throws -> Response {
        let caller = try context.user
        let body = try context.jsonObject(allowingNonFiniteNumbers: true)
        let job = try jobs.find(context.parameter("job"), for: caller)
        var point = body
        // The job is the path's; a body that names it as well must name the same one.
        if let named = point["job_id"] {
            guard case .string(let name) = named, NamedJob.names(job, name) else { throw APIError.unauthorized }
            point["job_id"] = nil
        }
        try NamedJob.refuseForeignUser(in: point, caller: caller)
        point["user_id"] = nil
        let parsed = try MetricPointReader.fineTuneLab.point(point, at: "")
        try training.ingest([parsed], jobID: job.id, userID: job.userID, tokenHash: caller.jobTokenHash, followsEpoch: true)
        return .json(.object(["success": .bool(true)]))
    }

    func history(_ context: RequestContext) throws -> Response {
        let query = context.query
        let job = try jobs.find(context.parameter("job"), for: context.user)
        let sinceStep = try query.integer("since_step", in: 0...Int(TrainingStep.maximum)).map(Int64.init)
        var body = HistoryBody(jobName: NamedJob.publicName(of: job))
        if query["limit"] != nil || query["offset"] != nil {
            let page = try Page(query: query, defaultLimit: 1000, maximumLimit: 5000)
            let (points, total) = try training.jobs.metrics(jobID: job.id, sinceStep: sinceStep, limit: page.limit, offset: page.offset)
            body.append(points)
            return body.response(total: total)
        }
        // Every point, read a page at a time after the last step written: the points held at
        // once stay one page, whatever the job's length; only the body's bytes grow.
        var after = sinceStep
        while true {
            let points = try training.jobs.metrics(jobID: job.id, sinceStep: after, limit: Self.readPage, offset: 0).points
            body.append(points)
            guard points.count == Self.readPage, let last = points.last else { break }
            after = last.step
        }
        return body.response(total: body.count)
    }

    /// Points read from the store at once while the whole history is written.
    private static let readPage = 5000

    /// `{"job_id", "metrics": [...], "total"}`, written point by point into the body bytes, with no JSON tree of the whole history.
    private struct HistoryBody {
        private var bytes: [UInt8] = []
        private(set) var count = 0

        init(jobName: String) {
            bytes.append(contentsOf: #"{"job_id":"#.utf8)
            JSONValue.writeString(jobName, to: &bytes)
            bytes.append(contentsOf: #","metrics":["#.utf8)
        }

        mutating func append(_ points: [MetricPoint]) {
            for point in points {
                if count > 0 { bytes.append(UInt8(ascii: ",")) }
                point.json.write(to: &bytes)
                count += 1
            }
        }

        consuming func response(total: Int) -> Response {
            bytes.append(contentsOf: #"],"total":"#.utf8)
            bytes.append(contentsOf: String(total).utf8)
            bytes.append(UInt8(ascii: "}"))
            return Response(status: .ok, headers: [("Content-Type", "application/json; charset=utf-8")], body: bytes)
        }
    }
}
