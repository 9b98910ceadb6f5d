import DatasetValidation
import Domain
import HTTPCore
import JSON

/// `GET /api/analytics/dashboard` (scope `analytics`).
struct AnalyticsController {
    let analytics: any AnalyticsStore

    private static let failureLimit = 10
    private static let datasetFormats = DatasetFormat.allCases.map(\.rawValue)

    func register(on router: inout Router) {
        router.get("/api/analytics/dashboard", auth: .scope(.analytics), operation: .dashboard, use: dashboard)
    }

    func dashboard(_ context: RequestContext) throws -> Response {
        let query = context.query
        let range = try DashboardRange(from: query["from"], to: query["to"], today: .now())
        let figures = try analytics.dashboard(
            userID: context.user.userID, from: range.start, days: range.days, failureLimit: Self.failureLimit
        )
        return .json(Self.json(figures, range: range))
    }

    /// The contract's shape; every status and format is present, zeros included.
    private static func json(_ figures: DashboardFigures, range: DashboardRange) -> JSONValue {
        let counts = figures.statusCounts
        let finished = counts[.completed] + counts[.failed] + counts[.cancelled]
        var byStatus = JSONObject()
        for status in JobStatus.allCases { byStatus[status.rawValue] = .int(counts[status]) }
        let perDay: [JSONValue] = figures.createdPerDay.enumerated().map { offset, count in
            .object(["date": .string(DashboardRange.text(ofDay: range.firstDay + Int64(offset))), "count": .int(count)])
        }
        var byFormat = JSONObject()
        for format in datasetFormats { byFormat[format] = .int(figures.datasetsByFormat[format] ?? 0) }
        let failures: [JSONValue] = figures.recentFailures.map { failure in
            .object([
                "id": .string(failure.id), "model_name": .string(failure.modelName), "error_message": .string(failure.errorMessage),
                "completed_at": .string(failure.completedAt?.iso8601),
            ])
        }
        return .object([
            "range": .object(["from": .string(DashboardRange.text(ofDay: range.firstDay)), "to": .string(DashboardRange.text(ofDay: range.lastDay))]),
            "jobs": .object([
                "total": .int(counts.total),
                "by_status": .object(byStatus),
                "created_per_day": .array(perDay),
                "success_rate": finished > 0 ? .double(Double(counts[.completed]) / Double(finished)) : .null,
                "avg_duration_seconds": .double(figures.averageDurationSeconds),
                "p95_duration_seconds": .double(figures.p95DurationSeconds),
            ]),
            "training": .object(["total_steps": .int(figures.totalSteps), "metrics_points": .int(figures.metricsPoints)]),
            "datasets": .object([
                "count": .int(figures.datasets), "total_examples": .int(figures.datasetExamples), "by_format": .object(byFormat),
            ]),
            "recent_failures": .array(failures),
        ])
    }
}
