import JSON

/// The OpenAPI operations of `LocalJobController`'s and `LocalJobStatusController`'s routes.
extension OpenAPIOperation {
    static let registerLocalJob = OpenAPIOperation(
        tag: fineTuneLabTag,
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
                        successProperty, ("persisted", Schema.boolean), jobNameProperty, ("id", Schema.uuid), ("user_id", Schema.string),
                        ("job_token", Schema.string), ("status", Schema.enumeration(Schema.statuses)),
                    ], required: ["success", "persisted", "job_id", "user_id", "job_token"])
            ),
            (409, "Illegal status transition (code INVALID_STATUS_TRANSITION), or the chosen job_token is taken (DUPLICATE_TOKEN).", nil),
        ])

    static let updateLocalJobStatus = OpenAPIOperation(
        tag: fineTuneLabTag,
        summary: "Change the job's status (the job's token); error becomes error_message.",
        requestBody: Schema.object(
            [("status", Schema.enumeration(["running", "completed", "failed", "cancelled", "paused"])), ("error", Schema.nullable("string"))],
            required: ["status"]),
        responses: [
            (
                200, "Changed.",
                Schema.object(
                    [successProperty, jobNameProperty, ("status", Schema.enumeration(Schema.statuses)), ("updated_at", Schema.dateTime)],
                    required: ["success", "status", "updated_at"])
            ),
            (404, "Not one of the caller's jobs.", nil), (409, "Illegal status transition (code INVALID_STATUS_TRANSITION).", nil),
        ])

    static let showLocalJobStatus = OpenAPIOperation(
        tag: fineTuneLabTag, summary: "The job's status and latest figures.",
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
        ])
}
