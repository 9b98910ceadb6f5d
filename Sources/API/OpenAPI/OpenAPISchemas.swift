import DatasetValidation
import Domain
import JSON

/// JSON Schema pieces of the OpenAPI document.
enum Schema {
    static func ref(_ name: String) -> JSONValue { .object(["$ref": .string("#/components/schemas/\(name)")]) }
    static let string = JSONValue.object(["type": .string("string")])
    static let uuid = JSONValue.object(["type": .string("string"), "format": .string("uuid")])
    static let dateTime = JSONValue.object(["type": .string("string"), "format": .string("date-time")])
    static let date = JSONValue.object(["type": .string("string"), "format": .string("date")])
    static let dateOrTime = JSONValue.object(["anyOf": .array([date, dateTime])])
    static let integer = JSONValue.object(["type": .string("integer")])
    static let number = JSONValue.object(["type": .string("number")])
    static let boolean = JSONValue.object(["type": .string("boolean")])
    static let object = JSONValue.object(["type": .string("object")])

    static func nullable(_ type: String, format: String? = nil) -> JSONValue {
        var schema = JSONObject([("type", .array([.string(type), .string("null")]))])
        if let format { schema["format"] = .string(format) }
        return .object(schema)
    }

    static func array(_ items: JSONValue) -> JSONValue { .object(["type": .string("array"), "items": items]) }

    static func enumeration(_ values: [String]) -> JSONValue {
        .object(["type": .string("string"), "enum": .array(values.map { .string($0) })])
    }

    static func object(_ properties: [(String, JSONValue)], required: [String] = [], closed: Bool = false) -> JSONValue {
        var schema = JSONObject([("type", .string("object")), ("properties", .object(JSONObject(properties)))])
        if !required.isEmpty { schema["required"] = .array(required.map { .string($0) }) }
        if closed { schema["additionalProperties"] = .bool(false) }
        return .object(schema)
    }

    /// `{"id", "data": <data>}`
    static func resource(_ data: JSONValue) -> JSONValue {
        object([("id", uuid), ("data", data)], required: ["id", "data"])
    }

    /// `{"data": [<item>], "total", "limit", "offset"}`
    static func list(_ item: JSONValue) -> JSONValue {
        object([("data", array(item)), ("total", integer), ("limit", integer), ("offset", integer)], required: ["data", "total", "limit", "offset"])
    }

    /// A nullable number within `range` (null is the same as leaving the field out).
    static func bounded(_ type: String, _ range: ClosedRange<Int64>) -> JSONValue {
        .object(["type": .array([.string(type), .string("null")]), "minimum": .int(range.lowerBound), "maximum": .int(range.upperBound)])
    }

    /// A name: `maxLength` characters at most, not blank, no control characters (C0, DEL, C1).
    static func name(maxLength: Int64) -> JSONValue {
        let visible = "[^\\u0000-\\u001f\\u007f-\\u009f]"
        return .object([
            "type": .string("string"), "minLength": .int(1), "maxLength": .int(maxLength),
            "pattern": .string("^\(visible)*[^\\s\\u0000-\\u001f\\u007f-\\u009f]\(visible)*$"),
        ])
    }

    /// A dataset's name: 1–200 characters without control characters. A blank one is refused too, but with that in
    /// the pattern schemathesis filters out too many examples of the upload; the upload documents the 400.
    static let datasetName = JSONValue.object([
        "type": .string("string"), "minLength": .int(1), "maxLength": .int(200), "pattern": .string("^[^\\u0000-\\u001f\\u007f-\\u009f]*$"),
        "description": .string("Not blank, no control characters."),
    ])

    static let totalSteps = bounded("integer", 1...TrainingStep.maximum)
    static let totalEpochs = bounded("integer", 1...TrainingEpoch.maximum)

    /// The fields of a metric point a trainer sends (the list adds perplexity).
    static let metricFields: [(String, JSONValue)] = [
        ("step", .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(TrainingStep.maximum)])),
        ("epoch", nullable("number")), ("train_loss", nullable("number")), ("eval_loss", nullable("number")),
        ("learning_rate", nullable("number")), ("grad_norm", nullable("number")), ("gpu_memory_allocated_gb", nullable("number")),
        ("gpu_utilization_percent", nullable("number")), ("samples_per_second", nullable("number")), ("tokens_per_second", nullable("number")),
        ("timestamp", nullable("string", format: "date-time")),
    ]

    /// What FineTune Lab's trainers may send beside the contract's fields (`loss` is another name for `train_loss`).
    static let fineTuneLabMetricFields: [(String, JSONValue)] = [
        ("gpu_memory_reserved_gb", nullable("number")), ("train_perplexity", nullable("number")), ("eval_perplexity", nullable("number")),
        ("perplexity", nullable("number")),
        ("loss", nullable("number")),
    ]

    static let statuses = JobStatus.allCases.map(\.rawValue)
    static let scopes = Scope.allCases.map(\.rawValue)
    static let datasetFormats = DatasetFormat.allCases.map(\.rawValue)

    /// The notification preferences with their defaults and ranges.
    static func notificationFields() -> [(String, JSONValue)] {
        func flag(_ value: Bool) -> JSONValue { .object(["type": .string("boolean"), "default": .bool(value)]) }
        func hour(_ value: Int, maximum: Int = 23) -> JSONValue {
            .object(["type": .string("integer"), "minimum": .int(0), "maximum": .int(maximum), "default": .int(value)])
        }
        return [
            ("email_enabled", flag(true)),
            ("email_address", .object(["type": .array([.string("string"), .string("null")]), "format": .string("email"), "default": .null])),
            ("alert_job_started", flag(false)), ("alert_job_completed", flag(true)), ("alert_job_failed", flag(true)),
            ("alert_job_cancelled", flag(false)), ("alert_gpu_oom", flag(true)), ("alert_disk_warning", flag(true)),
            ("alert_timeout_warning", flag(true)), ("daily_summary_enabled", flag(false)), ("daily_summary_hour", hour(9)),
            ("weekly_digest_enabled", flag(false)),
            (
                "weekly_digest_day",
                .object([
                    "type": .string("integer"), "minimum": .int(0), "maximum": .int(6), "default": .int(1), "description": .string("0 = Sunday."),
                ])
            ),
            ("quiet_hours_enabled", flag(false)), ("quiet_hours_start", hour(22)), ("quiet_hours_end", hour(8)),
            (
                "timezone",
                .object([
                    "type": .string("string"), "default": .string("UTC"),
                    "description": .string("An IANA time zone name (e.g. Europe/Paris), checked against the system's zoneinfo."),
                ])
            ),
        ]
    }

    static let components: [(String, JSONValue)] = [
        (
            "Error",
            object(
                [
                    ("error", string),
                    (
                        "details",
                        .object([
                            "type": .array([.string("string"), .string("object")]),
                            "description": .string("Which field or what is wrong; for INVALID_DATASET the validation report."),
                        ])
                    ),
                    ("code", string),
                ], required: ["error"])
        ),
        ("Action", object([("success", boolean), ("message", string)], required: ["success"])),
        (
            "Health",
            object(
                [("status", string), ("version", string), ("database", enumeration(["ok", "unavailable"]))],
                required: ["status", "version", "database"])
        ),
        (
            "TrainingStats",
            object(
                ["total_jobs", "completed", "running", "failed", "pending", "cancelled", "paused"].map { ($0, integer) },
                required: ["total_jobs", "completed", "running", "failed", "pending", "cancelled", "paused"]
            )
        ),
        (
            "TrainingJob",
            object(
                [
                    ("id", uuid), ("user_id", string), ("model_name", string), ("dataset_id", nullable("string", format: "uuid")),
                    ("status", enumeration(statuses)), ("config", object), ("progress", number), ("current_step", integer),
                    ("total_steps", nullable("integer")), ("current_epoch", integer), ("total_epochs", nullable("integer")),
                    ("train_loss", nullable("number")), ("eval_loss", nullable("number")), ("best_eval_loss", nullable("number")),
                    ("error_message", nullable("string")), ("resumed_from_job_id", nullable("string", format: "uuid")),
                    ("created_at", dateTime), ("updated_at", dateTime), ("started_at", nullable("string", format: "date-time")),
                    ("completed_at", nullable("string", format: "date-time")),
                    ("external_id", nullable("string")), ("dataset_path", nullable("string")),
                    ("agent_id", nullable("string")), ("claimed_at", nullable("string", format: "date-time")), ("attempts", integer),
                    (
                        "job_token",
                        .object([
                            "type": .string("string"),
                            "description": .string("Only in the create and restart responses: the job's own token for PATCH and metrics."),
                        ])
                    ),
                ], required: ["id", "user_id", "model_name", "status", "config", "progress", "current_step", "created_at", "updated_at"])
        ),
        (
            "AgentJob",
            object(
                [
                    ("id", uuid), ("model_name", string), ("dataset_path", nullable("string")), ("dataset_url", nullable("string")),
                    ("dataset_url_expires_at", nullable("string", format: "date-time")), ("config", object),
                    ("total_epochs", nullable("integer")), ("total_steps", nullable("integer")), ("created_at", dateTime),
                ], required: ["id", "model_name", "dataset_path", "dataset_url", "config", "created_at"])
        ),
        (
            "AgentPoll",
            object(
                [
                    ("job", .object(["anyOf": .array([ref("AgentJob"), .object(["type": .string("null")])])])),
                    ("poll_interval_seconds", integer), ("message", string), ("cancelled", array(uuid)),
                ], required: ["job", "poll_interval_seconds", "cancelled"])
        ),
        ("AgentClaim", object([("success", boolean), ("job_token", string), ("job", ref("AgentJob"))], required: ["success", "job_token", "job"])),
        (
            "TrainingAgent",
            object(
                [
                    ("agent_id", string), ("hostname", nullable("string")), ("platform", nullable("string")), ("version", nullable("string")),
                    ("registered_at", dateTime), ("last_poll_at", dateTime), ("status", enumeration(["online", "offline"])),
                    ("is_online", boolean), ("job_ids", array(uuid)),
                ], required: ["agent_id", "registered_at", "last_poll_at", "status", "is_online", "job_ids"])
        ),
        (
            "TrainingAgentList",
            object(
                [("agents", array(ref("TrainingAgent"))), ("online_threshold_seconds", integer)], required: ["agents", "online_threshold_seconds"])
        ),
        (
            "TrainingAgentDetail",
            object([("agent", ref("TrainingAgent")), ("jobs", array(ref("TrainingJob")))], required: ["agent", "jobs"])
        ),
        (
            "NewTrainingJob",
            object(
                [
                    ("model_name", .object(["type": .string("string"), "minLength": .int(1), "maxLength": .int(200)])),
                    ("dataset_id", nullable("string", format: "uuid")), ("config", nullable("object")), ("total_steps", totalSteps),
                    ("total_epochs", totalEpochs),
                ], required: ["model_name"], closed: true)
        ),
        (
            "TrainingJobUpdate",
            object(
                [
                    (
                        "status",
                        .object(["type": .array([.string("string"), .string("null")]), "enum": .array(statuses.map { .string($0) } + [.null])])
                    ),
                    ("progress", bounded("number", 0...100)), ("current_step", bounded("integer", TrainingStep.range)),
                    ("total_steps", totalSteps), ("current_epoch", bounded("integer", 0...TrainingEpoch.maximum)),
                    ("total_epochs", totalEpochs),
                    ("error_message", .object(["type": .array([.string("string"), .string("null")]), "maxLength": .int(10_000)])),
                ], closed: true)
        ),
        (
            "MetricPoint",
            object(
                metricFields + fineTuneLabMetricFields.filter { $0.0 != "loss" && $0.0 != "perplexity" } + [
                    (
                        "perplexity",
                        .object([
                            "type": .array([.string("number"), .string("null")]),
                            "description": .string(
                                "exp(eval_loss) when eval_loss is finite and below 100, unless a FineTune Lab trainer sent its own."),
                        ])
                    )
                ], required: ["step"])
        ),
        ("NewMetricPoint", object(metricFields, required: ["step"], closed: true)),
        ("FineTuneLabMetricPoint", object(metricFields + fineTuneLabMetricFields, required: ["step"], closed: true)),
        (
            "MetricsBatch",
            object(
                [
                    ("metrics", .object(["type": .string("array"), "minItems": .int(1), "maxItems": .int(1000), "items": ref("NewMetricPoint")]))
                ], required: ["metrics"], closed: true)
        ),
        (
            "MetricsAggregate",
            object(
                [
                    ("model_name", string), ("jobs", integer), ("jobs_with_metrics", integer), ("total_steps", integer),
                    (
                        "best_eval_loss",
                        .object([
                            "oneOf": .array([
                                object([("value", number), ("job_id", uuid), ("step", integer)], required: ["value", "job_id", "step"]),
                                .object(["type": .string("null")]),
                            ])
                        ])
                    ),
                    ("avg_final_train_loss", nullable("number")), ("avg_final_eval_loss", nullable("number")),
                    ("avg_samples_per_second", nullable("number")), ("groups", array(ref("MetricsAggregate"))),
                ],
                required: [
                    "jobs", "jobs_with_metrics", "total_steps", "best_eval_loss", "avg_final_train_loss", "avg_final_eval_loss",
                    "avg_samples_per_second",
                ])
        ),
        ("MetricsAccepted", object([("success", boolean), ("accepted", integer)], required: ["success", "accepted"])),
        (
            "Dashboard",
            object(
                [
                    ("range", object([("from", date), ("to", date)], required: ["from", "to"])),
                    (
                        "jobs",
                        object(
                            [
                                ("total", integer),
                                ("by_status", object(statuses.map { ($0, integer) }, required: statuses)),
                                ("created_per_day", array(object([("date", date), ("count", integer)], required: ["date", "count"]))),
                                (
                                    "success_rate",
                                    .object(["type": .array([.string("number"), .string("null")]), "minimum": .int(0), "maximum": .int(1)])
                                ),
                                ("avg_duration_seconds", nullable("number")), ("p95_duration_seconds", nullable("number")),
                            ], required: ["total", "by_status", "created_per_day", "success_rate", "avg_duration_seconds", "p95_duration_seconds"])
                    ),
                    ("training", object([("total_steps", integer), ("metrics_points", integer)], required: ["total_steps", "metrics_points"])),
                    (
                        "datasets",
                        object(
                            [
                                ("count", integer), ("total_examples", integer),
                                ("by_format", object(datasetFormats.map { ($0, integer) }, required: datasetFormats)),
                            ], required: ["count", "total_examples", "by_format"])
                    ),
                    (
                        "recent_failures",
                        .object([
                            "type": .string("array"), "maxItems": .int(10),
                            "items": object(
                                [
                                    ("id", uuid), ("model_name", string), ("error_message", nullable("string")),
                                    ("completed_at", nullable("string", format: "date-time")),
                                ], required: ["id", "model_name", "error_message", "completed_at"]),
                        ])
                    ),
                ], required: ["range", "jobs", "training", "datasets", "recent_failures"])
        ),
        (
            "HubModel",
            object(
                [
                    ("id", string), ("name", string), ("author", nullable("string")), ("downloads", integer), ("likes", integer),
                    ("tags", array(string)), ("pipeline_tag", nullable("string")), ("library_name", nullable("string")),
                    ("created_at", nullable("string", format: "date-time")), ("last_modified", nullable("string", format: "date-time")),
                ], required: ["id", "name", "author", "downloads", "likes", "tags", "pipeline_tag", "library_name", "created_at", "last_modified"])
        ),
        ("NotificationPreferences", object(notificationFields(), required: notificationFields().map(\.0))),
        ("NotificationPreferencesUpdate", object(notificationFields(), closed: true)),
        (
            "APIKey",
            object(
                [
                    ("id", uuid), ("name", string), ("key_prefix", string), ("scopes", array(enumeration(scopes))), ("created_at", dateTime),
                    ("last_used_at", nullable("string", format: "date-time")), ("request_count", integer),
                    (
                        "key",
                        .object(["type": .string("string"), "description": .string("Only in the create response: the full key, shown this once.")])
                    ),
                ], required: ["id", "name", "key_prefix", "scopes", "created_at", "request_count"])
        ),
        (
            "Dataset",
            object(
                [
                    ("id", uuid), ("name", string), ("format", enumeration(datasetFormats)), ("size_bytes", integer),
                    ("total_examples", integer),
                    ("sha256", .object(["type": .string("string"), "description": .string("Lowercase hex SHA-256 of the stored bytes.")])),
                    ("created_at", dateTime),
                ], required: ["id", "name", "format", "size_bytes", "total_examples", "sha256", "created_at"])
        ),
        (
            "DatasetValidation",
            object(
                [
                    ("valid", boolean), ("format", enumeration(datasetFormats)), ("detected_confidence", enumeration(["high", "medium", "low"])),
                    ("total_examples", integer), ("valid_examples", integer),
                    (
                        "error_count",
                        .object(["type": .string("integer"), "description": .string("All errors, though only the first 25 are listed.")])
                    ),
                    ("errors", array(object([("line", integer), ("message", string)], required: ["line", "message"]))),
                    (
                        "stats",
                        object(
                            [("avg_input_chars", number), ("avg_output_chars", number), ("estimated_tokens", integer)],
                            required: ["avg_input_chars", "avg_output_chars", "estimated_tokens"])
                    ),
                ], required: ["valid", "format", "detected_confidence", "total_examples", "valid_examples", "error_count", "errors", "stats"])
        ),
        (
            "NewAPIKey",
            object(
                [
                    ("name", name(maxLength: 100)),
                    (
                        "scopes",
                        .object([
                            "type": .array([.string("array"), .string("null")]), "items": enumeration(scopes), "minItems": .int(1),
                            "description": .string("Default (absent or null): [\"all\"]."),
                        ])
                    ),
                ], required: ["name"], closed: true)
        ),
    ]
}
