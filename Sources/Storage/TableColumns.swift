/// The columns of the tables that both stores read into records, in row order: a case's raw value is its
/// index in a row selected with the backend's column list. Each backend adds how it selects and binds them.

/// The columns of `api_keys`.
enum APIKeyColumn: Int32, CaseIterable {
    case id, userID, name, keyHash, keyPrefix, scopes, createdAt, lastUsedAt, requestCount, revokedAt

    var name: String {
        switch self {
        case .id: "id"
        case .userID: "user_id"
        case .name: "name"
        case .keyHash: "key_hash"
        case .keyPrefix: "key_prefix"
        case .scopes: "scopes"
        case .createdAt: "created_at"
        case .lastUsedAt: "last_used_at"
        case .requestCount: "request_count"
        case .revokedAt: "revoked_at"
        }
    }

    /// Whether the column is a point in time (milliseconds in SQLite, `timestamptz` in PostgreSQL).
    var isTimestamp: Bool {
        switch self {
        case .createdAt, .lastUsedAt, .revokedAt: true
        case .id, .userID, .name, .keyHash, .keyPrefix, .scopes, .requestCount: false
        }
    }
}

/// The columns of `datasets`.
enum DatasetColumn: Int32, CaseIterable {
    case id, userID, name, format, sizeBytes, totalExamples, sha256, filePath, createdAt

    var name: String {
        switch self {
        case .id: "id"
        case .userID: "user_id"
        case .name: "name"
        case .format: "format"
        case .sizeBytes: "size_bytes"
        case .totalExamples: "total_examples"
        case .sha256: "sha256"
        case .filePath: "file_path"
        case .createdAt: "created_at"
        }
    }

    /// Whether the column is a point in time (milliseconds in SQLite, `timestamptz` in PostgreSQL).
    var isTimestamp: Bool { self == .createdAt }
}

/// The columns of `notification_preferences`.
enum NotificationPreferenceColumn: Int32, CaseIterable {
    case userID, emailEnabled, emailAddress, alertJobStarted, alertJobCompleted, alertJobFailed, alertJobCancelled, alertGPUOOM
    case alertDiskWarning, alertTimeoutWarning, dailySummaryEnabled, dailySummaryHour, weeklyDigestEnabled, weeklyDigestDay
    case quietHoursEnabled, quietHoursStart, quietHoursEnd, timezone, updatedAt

    var name: String {
        switch self {
        case .userID: "user_id"
        case .emailEnabled: "email_enabled"
        case .emailAddress: "email_address"
        case .alertJobStarted: "alert_job_started"
        case .alertJobCompleted: "alert_job_completed"
        case .alertJobFailed: "alert_job_failed"
        case .alertJobCancelled: "alert_job_cancelled"
        case .alertGPUOOM: "alert_gpu_oom"
        case .alertDiskWarning: "alert_disk_warning"
        case .alertTimeoutWarning: "alert_timeout_warning"
        case .dailySummaryEnabled: "daily_summary_enabled"
        case .dailySummaryHour: "daily_summary_hour"
        case .weeklyDigestEnabled: "weekly_digest_enabled"
        case .weeklyDigestDay: "weekly_digest_day"
        case .quietHoursEnabled: "quiet_hours_enabled"
        case .quietHoursStart: "quiet_hours_start"
        case .quietHoursEnd: "quiet_hours_end"
        case .timezone: "timezone"
        case .updatedAt: "updated_at"
        }
    }

    /// Whether the column is a point in time (milliseconds in SQLite, `timestamptz` in PostgreSQL).
    var isTimestamp: Bool { self == .updatedAt }
}
