import JSON

/// The OpenAPI operations of `NotificationPreferencesController`'s routes.
extension OpenAPIOperation {
    static let showNotificationPreferences = OpenAPIOperation(
        tag: "notifications",
        summary: "The caller's notification preferences; the defaults when never saved (reading stores nothing).",
        responses: [(200, "The preferences.", Schema.object([("data", Schema.ref("NotificationPreferences"))], required: ["data"]))])

    static let updateNotificationPreferences = OpenAPIOperation(
        tag: "notifications",
        summary:
            "Change some preferences (partial update, upsert): only the fields given change; {} changes nothing. Every field is checked "
            + "before anything is stored.",
        requestBody: Schema.ref("NotificationPreferencesUpdate"),
        responses: [
            (200, "The stored preferences.", Schema.object([("data", Schema.ref("NotificationPreferences"))], required: ["data"])),
            (
                400,
                "Unknown field, wrong type, null where not allowed, out of range, bad email address or unknown time zone; details names "
                    + "the field.",
                nil
            ),
        ])
}
