import Domain

extension NotificationPreferenceColumn: PostgreSQLTableColumn {
    func postgresValue(of preferences: NotificationPreferences, userID: String, updatedAt: Timestamp) -> PostgreSQLValue {
        switch self {
        case .userID: .text(userID)
        case .emailEnabled: .bool(preferences.emailEnabled)
        case .emailAddress: preferences.emailAddress.postgres
        case .alertJobStarted: .bool(preferences.alertJobStarted)
        case .alertJobCompleted: .bool(preferences.alertJobCompleted)
        case .alertJobFailed: .bool(preferences.alertJobFailed)
        case .alertJobCancelled: .bool(preferences.alertJobCancelled)
        case .alertGPUOOM: .bool(preferences.alertGPUOOM)
        case .alertDiskWarning: .bool(preferences.alertDiskWarning)
        case .alertTimeoutWarning: .bool(preferences.alertTimeoutWarning)
        case .dailySummaryEnabled: .bool(preferences.dailySummaryEnabled)
        case .dailySummaryHour: .integer(Int64(preferences.dailySummaryHour))
        case .weeklyDigestEnabled: .bool(preferences.weeklyDigestEnabled)
        case .weeklyDigestDay: .integer(Int64(preferences.weeklyDigestDay))
        case .quietHoursEnabled: .bool(preferences.quietHoursEnabled)
        case .quietHoursStart: .integer(Int64(preferences.quietHoursStart))
        case .quietHoursEnd: .integer(Int64(preferences.quietHoursEnd))
        case .timezone: .text(preferences.timezone)
        case .updatedAt: .integer(updatedAt.millisecondsSinceEpoch)
        }
    }
}

/// Notification preferences in PostgreSQL. `update` serializes on the user's row: it locks the row
/// (`SELECT … FOR UPDATE`), and for a user without one it first inserts the defaults, so that concurrent first
/// updates wait for one another on that row instead of each starting from the defaults.
final class PostgreSQLNotificationPreferencesStore: NotificationPreferencesStore {
    private typealias Column = NotificationPreferenceColumn
    private let database: PostgreSQLDatabase

    init(database: PostgreSQLDatabase) { self.database = database }

    private static let selectByUser = "SELECT \(Column.selectList) FROM notification_preferences WHERE user_id = \(Column.userID.parameter)"
    private static let lockByUser = selectByUser + " FOR UPDATE"
    /// Inserts nothing when the user has a row, after waiting for the transaction that inserted it (if still open).
    private static let insertDefaults = """
        INSERT INTO notification_preferences (\(Column.names)) VALUES (\(Column.parameters)) ON CONFLICT (user_id) DO NOTHING
        """
    private static let updateRow =
        "UPDATE notification_preferences SET "
        + Column.allCases.filter { $0 != .userID }.map { "\($0.name) = \($0.parameter)" }.joined(separator: ", ")
        + " WHERE user_id = \(Column.userID.parameter)"

    private static func values(_ preferences: NotificationPreferences, userID: String, at time: Timestamp) -> [PostgreSQLValue] {
        Column.allCases.map { $0.postgresValue(of: preferences, userID: userID, updatedAt: time) }
    }

    func find(userID: String) throws -> NotificationPreferences? {
        try database.read { connection in
            try connection.first(Self.selectByUser, [.text(userID)], NotificationPreferences.init(row:))
        }
    }

    func update(
        userID: String, at time: Timestamp, _ change: (inout NotificationPreferences) throws -> Void
    ) throws -> NotificationPreferences {
        try database.write { connection in
            var preferences: NotificationPreferences
            if let stored = try connection.first(Self.lockByUser, [.text(userID)], NotificationPreferences.init(row:)) {
                preferences = stored
            } else if try connection.run(Self.insertDefaults, Self.values(NotificationPreferences(), userID: userID, at: time)) == 1 {
                preferences = NotificationPreferences()
            } else if let stored = try connection.first(Self.lockByUser, [.text(userID)], NotificationPreferences.init(row:)) {
                // Another update inserted the user's row and committed while this one waited on it.
                preferences = stored
            } else {
                throw StoreError.failed("notification preferences of \(userID) neither inserted nor found")
            }
            try change(&preferences)
            try connection.run(Self.updateRow, Self.values(preferences, userID: userID, at: time))
            return preferences
        }
    }
}
