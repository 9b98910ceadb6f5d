import Domain

extension NotificationPreferenceColumn: SQLiteColumn {
    var sql: String { name }

    func sqliteValue(of preferences: NotificationPreferences, userID: String, updatedAt: Timestamp) -> SQLiteValue {
        func flag(_ bool: Bool) -> SQLiteValue { .integer(bool ? 1 : 0) }
        return switch self {
        case .userID: .text(userID)
        case .emailEnabled: flag(preferences.emailEnabled)
        case .emailAddress: preferences.emailAddress.sqlite
        case .alertJobStarted: flag(preferences.alertJobStarted)
        case .alertJobCompleted: flag(preferences.alertJobCompleted)
        case .alertJobFailed: flag(preferences.alertJobFailed)
        case .alertJobCancelled: flag(preferences.alertJobCancelled)
        case .alertGPUOOM: flag(preferences.alertGPUOOM)
        case .alertDiskWarning: flag(preferences.alertDiskWarning)
        case .alertTimeoutWarning: flag(preferences.alertTimeoutWarning)
        case .dailySummaryEnabled: flag(preferences.dailySummaryEnabled)
        case .dailySummaryHour: .integer(Int64(preferences.dailySummaryHour))
        case .weeklyDigestEnabled: flag(preferences.weeklyDigestEnabled)
        case .weeklyDigestDay: .integer(Int64(preferences.weeklyDigestDay))
        case .quietHoursEnabled: flag(preferences.quietHoursEnabled)
        case .quietHoursStart: .integer(Int64(preferences.quietHoursStart))
        case .quietHoursEnd: .integer(Int64(preferences.quietHoursEnd))
        case .timezone: .text(preferences.timezone)
        case .updatedAt: .integer(updatedAt.millisecondsSinceEpoch)
        }
    }
}

final class SQLiteNotificationPreferencesStore: NotificationPreferencesStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let selectByUser = "SELECT \(NotificationPreferenceColumn.list) FROM notification_preferences WHERE user_id = ?"
    private static let replaceRow = """
        INSERT OR REPLACE INTO notification_preferences (\(NotificationPreferenceColumn.list)) \
        VALUES (\(NotificationPreferenceColumn.placeholders))
        """

    private static func fetch(userID: String, on connection: SQLiteConnection) throws -> NotificationPreferences? {
        try connection.first(selectByUser, [.text(userID)], NotificationPreferences.init(row:))
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
                Self.replaceRow, NotificationPreferenceColumn.allCases.map { $0.sqliteValue(of: preferences, userID: userID, updatedAt: time) }
            )
            return preferences
        }
    }
}
