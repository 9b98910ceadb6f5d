import JSON

/// The OpenAPI operations of `TrainingLogController`'s routes.
extension OpenAPIOperation {
    static let appendLocalLogs = OpenAPIOperation(
        tag: fineTuneLabTag,
        summary: "Append up to 1000 log lines of at most 16 KiB each (the job's token); the job keeps its last 10,000 lines.",
        requestBody: Schema.object(
            [("logs", .object(["type": .string("array"), "maxItems": .int(1000), "items": Schema.string]))], required: ["logs"]),
        responses: [
            (
                200, "Appended.",
                Schema.object(
                    [successProperty, ("logs_appended", Schema.integer), ("total_logs", Schema.integer)],
                    required: ["success", "logs_appended", "total_logs"])
            ),
            (404, "Not one of the caller's jobs.", nil),
        ])

    static let listLocalLogs = OpenAPIOperation(
        tag: fineTuneLabTag, summary: "A page of the job's log lines, oldest first.",
        query: [
            ("limit", .object(["type": .string("integer"), "minimum": .int(1), "maximum": .int(1000), "default": .int(100)]), "Lines."),
            (
                "offset",
                .object(["type": .string("integer"), "minimum": .int(Int(Int32.min)), "maximum": .int(Int(Int32.max)), "default": .int(0)]),
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
        ])

    static let listLocalLogErrors = OpenAPIOperation(
        tag: fineTuneLabTag,
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
        ])
}
