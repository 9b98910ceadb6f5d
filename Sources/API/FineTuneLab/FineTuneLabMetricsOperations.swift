import JSON

/// The OpenAPI operations of `LocalMetricsController`'s routes.
extension OpenAPIOperation {
    static let reportLocalMetrics = OpenAPIOperation(
        tag: fineTuneLabTag,
        summary:
            "Report 1–1000 metric points (the job's token). The same rules as POST /api/training/jobs/{id}/metrics; loss is another name "
            + "for train_loss.",
        requestBody: Schema.object(
            [
                jobNameProperty,
                (
                    "metrics",
                    .object([
                        "type": .string("array"), "minItems": .int(1), "maxItems": .int(1000), "items": Schema.ref("FineTuneLabMetricPoint"),
                    ])
                ),
            ], required: ["job_id", "metrics"]),
        responses: [
            (200, "Stored.", Schema.object([successProperty, ("count", Schema.integer)], required: ["success", "count"])),
            (404, "Not one of the caller's jobs.", nil), (409, "The job is terminal (code JOB_TERMINAL).", nil),
        ])

    static let reportLocalMetricPoint = OpenAPIOperation(
        tag: fineTuneLabTag, summary: "Report one metric point (the job's token).",
        requestBody: Schema.ref("FineTuneLabMetricPoint"),
        responses: [
            (200, "Stored.", Schema.object([successProperty], required: ["success"])), (404, "Not one of the caller's jobs.", nil),
            (409, "The job is terminal (code JOB_TERMINAL).", nil),
        ])

    static let listLocalMetrics = OpenAPIOperation(
        tag: fineTuneLabTag,
        summary: "Every metric point of the job by step, unless limit, offset or since_step narrow it.",
        query: [
            ("limit", .object(["type": .string("integer"), "minimum": .int(1), "maximum": .int(5000)]), "Page size (default: every point)."),
            (
                "offset", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(Page.maximumOffset), "default": .int(0)]),
                "Points to skip."
            ),
            (
                "since_step", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(Int(TrainingStep.maximum))]),
                "Only points with a larger step."
            ),
        ],
        responses: [
            (
                200, "The points.",
                Schema.object(
                    [jobNameProperty, ("metrics", Schema.array(Schema.ref("MetricPoint"))), ("total", Schema.integer)],
                    required: ["job_id", "metrics"])
            ),
            (404, "Not one of the caller's jobs.", nil),
        ])
}
