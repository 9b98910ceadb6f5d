import JSON

/// The OpenAPI operations of `TrainingMetricsController`'s routes.
extension OpenAPIOperation {
    static let reportMetrics = OpenAPIOperation(
        tag: "training",
        summary:
            "Report 1–1000 metric points (trainer), or one point as the whole body (accepted: 1). Idempotent per step; the first points "
            + "start a pending job.",
        requestBody: .object(["oneOf": .array([Schema.ref("MetricsBatch"), Schema.ref("FineTuneLabMetricPoint")])]),
        responses: [(200, "Stored.", Schema.ref("MetricsAccepted")), (409, "The job is terminal (code JOB_TERMINAL).", nil)])

    static let listMetrics = OpenAPIOperation(
        tag: "training", summary: "A job's metric points by step.",
        query: [
            ("limit", .object(["type": .string("integer"), "minimum": .int(1), "maximum": .int(5000), "default": .int(1000)]), "Page size."),
            (
                "offset", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(Page.maximumOffset), "default": .int(0)]),
                "Points to skip."
            ),
            (
                "since_step", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(TrainingStep.maximum)]),
                "Only points with a larger step (incremental polling)."
            ),
        ],
        responses: [(200, "A page of points.", Schema.list(Schema.ref("MetricPoint")))])

    static let aggregateMetrics = OpenAPIOperation(
        tag: "training",
        summary: "Training figures across the caller's jobs, computed by the database.",
        query: [
            ("from", Schema.dateOrTime, "Jobs created at or after this date (YYYY-MM-DD, UTC) or time."),
            ("to", Schema.dateOrTime, "Jobs created before the end of this date (UTC) or before this time; from must be before to."),
            ("model_name", Schema.string, "Only jobs of this model."),
            ("group_by", Schema.enumeration(["model_name"]), "Add one entry per model under groups."),
        ],
        responses: [(200, "The aggregate.", Schema.ref("MetricsAggregate"))])
}
