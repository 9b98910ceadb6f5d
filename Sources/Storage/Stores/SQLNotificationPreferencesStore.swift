import Domain

extension NotificationPreferenceColumn {
    func value(of preferences: NotificationPreferences, userID: String, updatedAt: Timestamp) -> SQLValue {
        switch self {
        case .userID: .text(userID)
        case .emailEnabled: .bool(preferences.emailEnabled)
        case .emailAddress: preferences.emailAddress.sql
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
        case .updatedAt: updatedAt.sql
        }
    }
}

/// Notification preferences. `update` serializes on the user's row: it locks the row, and for a user without
/// one it first inserts the defaults, so that concurrent first updates wait for one another on that row (on
/// PostgreSQL; SQLite's one writer orders them anyway) instead of each starting from the defaults.
final class SQLNotificationPreferencesStore<Database: SQLDatabase>: NotificationPreferencesStore {
    private typealias Column = NotificationPreferenceColumn
    private let database: Database
    private let selectByUser: String
    private let lockByUser: String
    /// Inserts nothing when the user has a row, after waiting for the transaction that inserted it (if still open).
    private let insertDefaults: String
    private let updateRow: String

    init(database: Database) {
        self.database = database
        let sql = database.dialect
        selectByUser = "SELECT \(sql.selectList(Column.self)) FROM notification_preferences WHERE user_id = $\(Column.userID.rawValue + 1)"
        lockByUser = selectByUser + sql.forUpdate
        insertDefaults = """
            INSERT INTO notification_preferences (\(sql.names(Column.self))) VALUES (\(sql.parameters(Column.self)))
            ON CONFLICT (user_id) DO NOTHING
            """
        let changed = Column.allCases.filter { $0 != .userID }
        updateRow = """
            UPDATE notification_preferences SET \(changed.map { "\($0.name) = \(sql.parameter($0, Int($0.rawValue) + 1))" }.joined(separator: ", "))
            WHERE user_id = $\(Column.userID.rawValue + 1)
            """
    }

    private static func values(_ preferences: NotificationPreferences, userID: String, at time: Timestamp) -> [SQLValue] {
        Column.allCases.map { $0.value(of: preferences, userID: userID, updatedAt: time) }
    }

    func find(userID: String) throws -> NotificationPreferences? {
        try database.read { connection in
            try connection.first(selectByUser, [.text(userID)], NotificationPreferences.init(row:))
        }
    }

    func update(
        userID: String, at time: Timestamp, _ change: (inout NotificationPreferences) throws -> Void
    ) throws -> NotificationPreferences {
        try database.write { connection in
            var preferences: NotificationPreferences
            if let stored = try connection.first(lockByUser, [.text(userID)], NotificationPreferences.init(row:)) {
                preferences = stored
            } else if try connection.run(insertDefaults, Self.values(NotificationPreferences(), userID: userID, at: time)) == 1 {
                preferences = NotificationPreferences()
            } else if let stored = try connection.first(lockByUser, [.text(userID)], NotificationPreferences.init(row:)) {
                // Another update inserted the user's row and committed while this one waited on it.
                preferences = stored
            } else {
                throw StoreError.failed("notification preferences of \(userID) neither inserted nor found")
            }
            try change(&preferences)
            try connection.run(updateRow, Self.values(preferences, userID: userID, at: time))
            return preferences
        }
    }
}
