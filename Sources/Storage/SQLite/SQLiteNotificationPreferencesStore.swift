final class SQLiteNotificationPreferencesStore: NotificationPreferencesStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let columns = """
        email_enabled, email_address, alert_job_started, alert_job_completed, alert_job_failed, alert_job_cancelled, \
        alert_gpu_oom, alert_disk_warning, alert_timeout_warning, daily_summary_enabled, daily_summary_hour, \
        weekly_digest_enabled, weekly_digest_day, quiet_hours_enabled, quiet_hours_start, quiet_hours_end, timezone
        """

    private static func preferences(_ row: SQLiteRow) -> NotificationPreferences {
        var value = NotificationPreferences()
        value.emailEnabled = row.int(0) != 0
        value.emailAddress = row.optionalString(1)
        value.alertJobStarted = row.int(2) != 0
        value.alertJobCompleted = row.int(3) != 0
        value.alertJobFailed = row.int(4) != 0
        value.alertJobCancelled = row.int(5) != 0
        value.alertGPUOOM = row.int(6) != 0
        value.alertDiskWarning = row.int(7) != 0
        value.alertTimeoutWarning = row.int(8) != 0
        value.dailySummaryEnabled = row.int(9) != 0
        value.dailySummaryHour = Int(row.int(10))
        value.weeklyDigestEnabled = row.int(11) != 0
        value.weeklyDigestDay = Int(row.int(12))
        value.quietHoursEnabled = row.int(13) != 0
        value.quietHoursStart = Int(row.int(14))
        value.quietHoursEnd = Int(row.int(15))
        value.timezone = row.string(16)
        return value
    }

    private static func values(_ value: NotificationPreferences) -> [SQLiteValue] {
        func flag(_ bool: Bool) -> SQLiteValue { .integer(bool ? 1 : 0) }
        return [
            flag(value.emailEnabled), value.emailAddress.sqlite, flag(value.alertJobStarted), flag(value.alertJobCompleted),
            flag(value.alertJobFailed), flag(value.alertJobCancelled), flag(value.alertGPUOOM), flag(value.alertDiskWarning),
            flag(value.alertTimeoutWarning), flag(value.dailySummaryEnabled), .integer(Int64(value.dailySummaryHour)),
            flag(value.weeklyDigestEnabled), .integer(Int64(value.weeklyDigestDay)), flag(value.quietHoursEnabled),
            .integer(Int64(value.quietHoursStart)), .integer(Int64(value.quietHoursEnd)), .text(value.timezone),
        ]
    }

    private static func fetch(userID: String, on connection: SQLiteConnection) throws -> NotificationPreferences? {
        try connection.first("SELECT \(columns) FROM notification_preferences WHERE user_id = ?", [.text(userID)], preferences)
    }

    func find(userID: String) throws -> NotificationPreferences? {
        try database.read { try Self.fetch(userID: userID, on: $0) }
    }

    func update(
        userID: String, at time: Timestamp, _ change: (inout NotificationPreferences) throws -> Void
    ) throws -> NotificationPreferences {
        try database.write { connection in
            var preferences = try Self.fetch(userID: userID, on: connection) ?? NotificationPreferences()
            try change(&preferences)
            try connection.run(
                """
                INSERT OR REPLACE INTO notification_preferences (user_id, \(Self.columns), updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [.text(userID)] + Self.values(preferences) + [.integer(time.millisecondsSinceEpoch)]
            )
            return preferences
        }
    }
}
