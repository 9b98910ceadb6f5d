import JSON

/// The OpenAPI operation of `AnalyticsController`'s route.
extension OpenAPIOperation {
    static let dashboard = OpenAPIOperation(
        tag: "analytics",
        summary:
            "The caller's dashboard, computed by the database. Days are UTC dates. Every figure covers the caller's jobs and datasets "
            + "created in the range (from 00:00 UTC of from to the end of to, both days included); recent_failures are the newest failed "
            + "jobs of the range by completed_at, at most 10. success_rate = completed / (completed + failed + cancelled), null when none of "
            + "them finished. Durations run from started_at to completed_at of completed jobs that have both; p95 is the nearest rank (the "
            + "ceil(0.95 n)-th smallest); both null without such jobs.",
        query: [
            ("from", Schema.date, "First day (YYYY-MM-DD, UTC). Default: 29 days before to, so the default range is 30 days."),
            (
                "to", Schema.date,
                "Last day, included (YYYY-MM-DD, UTC). Default: today (UTC). from after to, or to more than 366 days after from, is a 400."
            ),
        ],
        responses: [(200, "The dashboard; created_per_day has one entry per day of the range, zeros included.", Schema.ref("Dashboard"))])
}
