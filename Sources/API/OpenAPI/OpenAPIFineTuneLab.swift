import JSON

/// The FineTune Lab compatibility routes in the OpenAPI document (their own region, so that
/// changes to the contract's operations and to these don't meet).
extension OpenAPIDocument {
    /// Every documented operation: the contract's and FineTune Lab's.
    static var allOperations: [DocumentedOperation] { operations + fineTuneLabOperations }

    private static let jobName =
        "The job's id (uuid) or its external_id. With a job token, only the token's job: any other name is a 401."
    private static let tag = "finetune-lab"

    private static let jobNameProperty = ("job_id", Schema.string)
    private static let success = ("success", JSONValue.object(["type": .string("boolean"), "const": .bool(true)]))

    static let fineTuneLabOperations: [DocumentedOperation] = [
        DocumentedOperation(
            method: "POST", pattern: "/api/training/local/jobs", tag: tag,
            summary:
                "Create or update the caller's job by its own job_id (kept as external_id, unique per user). A new job is pending (queued) or "
                + "running; a later call updates the given fields and answers the same job_token; a different status follows the state machine.",
            requestBody: Schema.object(
                [
                    (
                        "job_id",
                        .object([
                            "type": .string("string"), "minLength": .int(1), "maxLength": .int(200), "pattern": .string("^[A-Za-z0-9._:-]+$"),
                        ])
                    ),
                    ("status", Schema.enumeration(["queued"] + Schema.statuses)),
                    ("model_name", .object(["type": .string("string"), "minLength": .int(1), "maxLength": .int(200)])),
                    ("dataset_path", Schema.string), ("config", Schema.object), ("total_steps", Schema.integer), ("total_epochs", Schema.integer),
                    ("job_token", .object(["type": .string("string"), "minLength": .int(32), "maxLength": .int(256)])),
                ], required: ["job_id"]),
            responses: [
                (
                    200, "The job, with its token.",
                    Schema.object(
                        [
                            success, ("persisted", Schema.boolean), jobNameProperty, ("id", Schema.uuid), ("user_id", Schema.string),
                            ("job_token", Schema.string), ("status", Schema.enumeration(Schema.statuses)),
                        ], required: ["success", "persisted", "job_id", "user_id", "job_token"])
                ),
                (409, "Illegal status transition (code INVALID_STATUS_TRANSITION), or the chosen job_token is taken (DUPLICATE_TOKEN).", nil),
            ]),
        DocumentedOperation(
            method: "POST", pattern: "/api/training/local/metrics", tag: tag,
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
                (200, "Stored.", Schema.object([success, ("count", Schema.integer)], required: ["success", "count"])),
                (404, "Not one of the caller's jobs.", nil), (409, "The job is terminal (code JOB_TERMINAL).", nil),
            ]),
        DocumentedOperation(
            method: "PUT", pattern: "/api/training/local/{job:string}/metrics", tag: tag, summary: "Report one metric point (the job's token).",
            requestBody: Schema.ref("FineTuneLabMetricPoint"),
            responses: [
                (200, "Stored.", Schema.object([success], required: ["success"])), (404, "Not one of the caller's jobs.", nil),
                (409, "The job is terminal (code JOB_TERMINAL).", nil),
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/local/{job:string}/metrics", tag: tag,
            summary: "Every metric point of the job by step, unless limit, offset or since_step narrow it.",
            query: [
                ("limit", .object(["type": .string("integer"), "minimum": .int(1), "maximum": .int(5000)]), "Page size (default: every point)."),
                (
                    "offset", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(Page.maximumOffset), "default": .int(0)]),
                    "Points to skip."
                ),
                (
                    "since_step", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(TrainingStep.maximum)]),
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
            ]),
        DocumentedOperation(
            method: "PATCH", pattern: "/api/training/local/{job:string}/status", tag: tag,
            summary: "Change the job's status (the job's token); error becomes error_message.",
            requestBody: Schema.object(
                [("status", Schema.enumeration(["running", "completed", "failed", "cancelled", "paused"])), ("error", Schema.nullable("string"))],
                required: ["status"]),
            responses: [
                (
                    200, "Changed.",
                    Schema.object(
                        [success, jobNameProperty, ("status", Schema.enumeration(Schema.statuses)), ("updated_at", Schema.dateTime)],
                        required: ["success", "status", "updated_at"])
                ),
                (404, "Not one of the caller's jobs.", nil), (409, "Illegal status transition (code INVALID_STATUS_TRANSITION).", nil),
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/local/{job:string}/status", tag: tag, summary: "The job's status and latest figures.",
            responses: [
                (
                    200, "The status.",
                    Schema.object(
                        [
                            jobNameProperty, ("status", Schema.enumeration(Schema.statuses)), ("model_name", Schema.string),
                            ("dataset_path", Schema.nullable("string")), ("current_step", Schema.integer), ("current_epoch", Schema.integer),
                            ("total_steps", Schema.nullable("integer")), ("total_epochs", Schema.nullable("integer")), ("progress", Schema.number),
                            ("loss", Schema.nullable("number")), ("eval_loss", Schema.nullable("number")),
                            ("best_eval_loss", Schema.nullable("number")),
                            ("learning_rate", Schema.nullable("number")), ("started_at", Schema.nullable("string", format: "date-time")),
                            ("completed_at", Schema.nullable("string", format: "date-time")), ("error", Schema.nullable("string")),
                        ], required: ["job_id", "status"])
                ),
                (404, "Not one of the caller's jobs.", nil),
            ]),
        DocumentedOperation(
            method: "POST", pattern: "/api/training/local/{job:string}/logs", tag: tag,
            summary: "Append up to 1000 log lines of at most 16 KiB each (the job's token); the job keeps its last 10,000 lines.",
            requestBody: Schema.object(
                [("logs", .object(["type": .string("array"), "maxItems": .int(1000), "items": Schema.string]))], required: ["logs"]),
            responses: [
                (
                    200, "Appended.",
                    Schema.object(
                        [success, ("logs_appended", Schema.integer), ("total_logs", Schema.integer)],
                        required: ["success", "logs_appended", "total_logs"])
                ),
                (404, "Not one of the caller's jobs.", nil),
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/local/{job:string}/logs", tag: tag, summary: "A page of the job's log lines, oldest first.",
            query: [
                ("limit", .object(["type": .string("integer"), "minimum": .int(1), "maximum": .int(1000), "default": .int(100)]), "Lines."),
                (
                    "offset",
                    .object([
                        "type": .string("integer"), "minimum": .int(Int(Int32.min)), "maximum": .int(Int(Int32.max)), "default": .int(0),
                    ]),
                    "First line; a negative offset counts from the end."
                ),
            ],
            responses: [
                (
                    200, "The lines; offset is where they start among the kept lines.",
                    Schema.object(
                        [
                            jobNameProperty, ("logs", Schema.array(Schema.string)), ("total_lines", Schema.integer), ("offset", Schema.integer),
                            ("limit", Schema.integer),
                        ], required: ["logs", "total_lines", "offset", "limit"])
                ),
                (404, "Not one of the caller's jobs.", nil),
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/local/{job:string}/errors", tag: tag,
            summary: "Errors and warnings found in the job's log lines, deduplicated, newest first, and the last Python traceback.",
            responses: [
                (
                    200, "The errors.",
                    Schema.object(
                        [
                            jobNameProperty, ("error_summary", Schema.nullable("string")),
                            (
                                "errors",
                                Schema.array(
                                    Schema.object([
                                        ("timestamp", Schema.string), ("level", Schema.enumeration(["error", "warning"])), ("phase", Schema.string),
                                        ("message", Schema.string), ("dedupe_key", Schema.string), ("count", Schema.integer),
                                    ]))
                            ),
                            (
                                "traceback",
                                .object([
                                    "type": .array([.string("object"), .string("null")]),
                                    "properties": .object([
                                        "raw": Schema.string,
                                        "frames": Schema.array(
                                            Schema.object([
                                                ("file", Schema.string), ("line", Schema.nullable("integer")), ("function", Schema.string),
                                                ("code", Schema.nullable("string")),
                                            ])),
                                        "exception_type": Schema.nullable("string"), "exception_message": Schema.nullable("string"),
                                    ]),
                                ])
                            ),
                            ("error_count", Schema.integer), ("unique_error_count", Schema.integer),
                        ], required: ["job_id", "errors", "traceback", "error_count", "unique_error_count"])
                ),
                (404, "Not one of the caller's jobs.", nil),
            ]),
        DocumentedOperation(
            method: "POST", pattern: "/api/training/local/predictions", tag: tag,
            summary: "Store 1–500 prediction records (the job's token); idempotent on (job, epoch, step, sample_index).",
            requestBody: Schema.object(
                [
                    jobNameProperty,
                    ("predictions", .object(["type": .string("array"), "minItems": .int(1), "maxItems": .int(500), "items": predictionInput])),
                ], required: ["job_id", "predictions"]),
            responses: [
                (200, "Stored.", Schema.object([success, ("count", Schema.integer)], required: ["success", "count"])),
                (404, "Not one of the caller's jobs.", nil),
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/predictions/{job:string}", tag: tag,
            summary: "The job's predictions by epoch, then sample_index.",
            query: [
                ("epoch", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(TrainingStep.maximum)]), "Only this epoch."),
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
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/predictions/{job:string}/epochs", tag: tag, summary: "The epochs of the job's predictions.",
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
            ]),
        DocumentedOperation(
            method: "GET", pattern: "/api/training/predictions/{job:string}/trends", tag: tag,
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
            ]),
    ]

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
