/// A user's notification settings; a new value holds the contract's defaults.
public struct NotificationPreferences: Sendable, Equatable {
    public var emailEnabled = true
    public var emailAddress: String? = nil
    public var alertJobStarted = false
    public var alertJobCompleted = true
    public var alertJobFailed = true
    public var alertJobCancelled = false
    public var alertGPUOOM = true
    public var alertDiskWarning = true
    public var alertTimeoutWarning = true
    public var dailySummaryEnabled = false
    /// 0–23, in `timezone`.
    public var dailySummaryHour = 9
    public var weeklyDigestEnabled = false
    /// 0–6, Sunday = 0.
    public var weeklyDigestDay = 1
    public var quietHoursEnabled = false
    public var quietHoursStart = 22
    public var quietHoursEnd = 8
    /// An IANA time zone name.
    public var timezone = "UTC"

    public init() {}
}

/// Notification preferences, one row per user that ever saved any.
public protocol NotificationPreferencesStore: Sendable {
    /// The user's stored preferences, or nil when never saved.
    func find(userID: String) throws -> NotificationPreferences?
    /// Reads the user's preferences (the defaults when none are stored), lets
    /// `change` modify them, and stores the result, all in one write
    /// transaction: concurrent partial updates from any worker process are
    /// applied one after the other, each seeing the last.
    func update(userID: String, at time: Timestamp, _ change: (inout NotificationPreferences) throws -> Void) throws -> NotificationPreferences
}
