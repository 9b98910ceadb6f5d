import JSON

/// The OpenAPI operations of `TrainingPredictionController`'s routes.
extension OpenAPIOperation {
    static let storePredictions = OpenAPIOperation(
        tag: fineTuneLabTag,
        summary: "Store 1–500 prediction records (the job's token); idempotent on (job, epoch, step, sample_index).",
        requestBody: Schema.object(
            [
                jobNameProperty,
                ("predictions", .object(["type": .string("array"), "minItems": .int(1), "maxItems": .int(500), "items": predictionInput])),
            ], required: ["job_id", "predictions"]),
        responses: [
            (200, "Stored.", Schema.object([successProperty, ("count", Schema.integer)], required: ["success", "count"])),
            (404, "Not one of the caller's jobs.", nil),
        ])

    static let listPredictions = OpenAPIOperation(
        tag: fineTuneLabTag,
        summary: "The job's predictions by epoch, then sample_index.",
        query: [
            ("epoch", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(Int(TrainingStep.maximum))]), "Only this epoch."),
            ("limit", .object(["type": .string("integer"), "minimum": .int(1), "maximum": .int(500), "default": .int(50)]), "Page size."),
            (
                "offset", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(Page.maximumOffset), "default": .int(0)]),
                "Records to skip."
            ),
        ],
        responses: [
            (
                200, "A page; total_count counts all of the job's predictions.",
                Schema.object(
                    [
                        jobNameProperty, ("predictions", Schema.array(predictionOutput)), ("total_count", Schema.integer),
                        ("epoch_count", Schema.integer),
                    ], required: ["job_id", "predictions", "total_count", "epoch_count"])
            ),
            (404, "Not one of the caller's jobs.", nil),
        ])

    static let listPredictionEpochs = OpenAPIOperation(
        tag: fineTuneLabTag, summary: "The epochs of the job's predictions.",
        responses: [
            (
                200, "One entry per epoch.",
                Schema.object(
                    [
                        jobNameProperty,
                        (
                            "epochs",
                            Schema.array(
                                Schema.object([("epoch", Schema.integer), ("prediction_count", Schema.integer), ("latest_step", Schema.integer)]))
                        ),
                    ], required: ["job_id", "epochs"])
            ),
            (404, "Not one of the caller's jobs.", nil),
        ])

    static let predictionTrends = OpenAPIOperation(
        tag: fineTuneLabTag,
        summary:
            "Quality per epoch (nulls skipped in averages); overall_improvement = (first epoch's avg CER − last's) / first's × 100 with at "
            + "least two epochs that have one and a first above 0, else null.",
        responses: [
            (
                200, "The trends.",
                Schema.object(
                    [
                        jobNameProperty,
                        (
                            "trends",
                            Schema.array(
                                Schema.object(
                                    [("epoch", Schema.integer), ("step", Schema.integer), ("sample_count", Schema.integer)]
                                        + [
                                            "avg_exact_match", "avg_char_error_rate", "avg_length_ratio", "avg_word_overlap",
                                            "min_char_error_rate",
                                            "max_char_error_rate", "validation_pass_rate",
                                        ].map { ($0, Schema.nullable("number")) }))
                        ),
                        ("overall_improvement", Schema.nullable("number")),
                    ], required: ["job_id", "trends", "overall_improvement"])
            ),
            (404, "Not one of the caller's jobs.", nil),
        ])

    private static let predictionFields: [(String, JSONValue)] = [
        ("epoch", Schema.integer), ("step", Schema.integer), ("sample_index", Schema.integer), ("prompt", Schema.string),
        ("prediction", Schema.string), ("ground_truth", Schema.nullable("string")), ("exact_match", Schema.nullable("number")),
        ("char_error_rate", Schema.nullable("number")), ("length_ratio", Schema.nullable("number")), ("word_overlap", Schema.nullable("number")),
        ("prompt_tokens", Schema.nullable("integer")), ("completion_tokens", Schema.nullable("integer")),
        ("total_tokens", Schema.nullable("integer")), ("latency_ms", Schema.nullable("number")), ("validation_pass", Schema.nullable("boolean")),
        ("validation_kind", Schema.nullable("string")), ("validation_errors", .object([:])),
    ]

    private static let predictionInput = Schema.object(
        predictionFields + [("job_id", Schema.nullable("string")), ("user_id", Schema.nullable("string"))],
        required: ["epoch", "step", "sample_index", "prompt", "prediction"])

    private static let predictionOutput = Schema.object(
        [("id", Schema.uuid), ("job_id", Schema.string), ("created_at", Schema.dateTime)] + predictionFields,
        required: ["id", "job_id", "epoch", "step", "sample_index", "prompt", "prediction", "created_at"])
}
