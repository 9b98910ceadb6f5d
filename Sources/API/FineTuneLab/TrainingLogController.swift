import Domain
import HTTPCore
import JSON

/// FineTune Lab's job logs: the trainer appends console lines, the SDK reads pages of them and
/// the errors found in them (`LogErrorReport`).
struct TrainingLogController {
    let jobs: NamedJob
    let logs: any TrainingLogStore

    private static let maximumLinesPerCall = 1000
    private static let maximumLineBytes = 16 << 10

    func register(on router: inout Router) {
        router.post("/api/training/local/{job:string}/logs", auth: .namedJobTrainer, operation: .appendLocalLogs, use: append)
        router.get("/api/training/local/{job:string}/logs", auth: .scope(.training), operation: .listLocalLogs, use: list)
        router.get("/api/training/local/{job:string}/errors", auth: .scope(.training), operation: .listLocalLogErrors, use: errors)
    }

    func append(_ context: RequestContext) throws -> Response {
        let caller = try context.user
        let body = try context.jsonObject()
        try NamedJob.refuseForeignUser(in: body, caller: caller)
        let job = try jobs.find(context.parameter("job"), for: caller)
        try NamedJob.refuseTrainerWriteAfterCancel(job, caller: caller)
        let lines = try Self.lines(body["logs"])
        let total = try logs.append(jobID: job.id, lines: lines, keep: JobLog.keptLines, heldWith: caller.jobTokenHash)
        return .json(.object(["success": .bool(true), "logs_appended": .int(lines.count), "total_logs": .int(total)]))
    }

    func list(_ context: RequestContext) throws -> Response {
        let query = context.query
        let limit = try query.integer("limit", in: 1...Self.maximumLinesPerCall) ?? 100
        let offset = try query.integer("offset", in: Int(Int32.min)...Int(Int32.max)) ?? 0
        let job = try jobs.find(context.parameter("job"), for: context.user)
        let page = try logs.lines(jobID: job.id, offset: offset, limit: limit)
        return .json(
            .object([
                "job_id": .string(NamedJob.publicName(of: job)), "logs": .array(page.lines.map { .string($0) }),
                "total_lines": .int(page.total), "offset": .int(page.offset), "limit": .int(limit),
            ]))
    }

    func errors(_ context: RequestContext) throws -> Response {
        let job = try jobs.find(context.parameter("job"), for: context.user)
        let lines = try logs.lines(jobID: job.id, offset: 0, limit: JobLog.keptLines).lines
        var body = LogErrorReport(lines: lines).json
        body["job_id"] = .string(NamedJob.publicName(of: job))
        body["error_summary"] = .string(job.errorMessage)
        return .json(.object(body))
    }

    /// The `logs` array, checked whole: at most 1000 strings of at most 16 KiB each.
    private static func lines(_ value: JSONValue?) throws(APIError) -> [String] {
        guard case .array(let elements)? = value else { throw APIError.badRequest("logs must be an array of strings") }
        guard elements.count <= maximumLinesPerCall else {
            throw APIError.badRequest("logs must hold at most \(maximumLinesPerCall) lines, not \(elements.count)")
        }
        var lines: [String] = []
        lines.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .string(let line) = element else { throw APIError.badRequest("logs[\(index)] must be a string, not \(element.typeName)") }
            guard line.utf8.count <= maximumLineBytes else {
                throw APIError.badRequest("logs[\(index)] must be at most \(maximumLineBytes) bytes, not \(line.utf8.count)")
            }
            // PostgreSQL's text can't hold NUL; refused on every backend so both behave alike.
            guard !line.utf8.contains(0) else { throw APIError.badRequest("logs[\(index)] must not contain NUL characters") }
            lines.append(line)
        }
        return lines
    }
}
