import Domain

/// The columns of the tables that the stores read into records, in row order: a case's raw value is its
/// index in a row selected with `SQLDialect.selectList`.

/// The columns of `api_keys`.
enum APIKeyColumn: Int32, TableColumn {
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
enum DatasetColumn: Int32, TableColumn {
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
enum NotificationPreferenceColumn: Int32, TableColumn {
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

/// The columns of `training_jobs` that a `TrainingJob` holds, in row order (the metrics summary
/// columns are kept by `appendMetrics` alone).
enum JobColumn: Int32, TableColumn {
    case id, userID, modelName, datasetID, status, config, progress, currentStep, totalSteps, currentEpoch, totalEpochs
    case trainLoss, evalLoss, bestEvalLoss, errorMessage, resumedFromJobID, jobTokenHash, createdAt, updatedAt, startedAt
    case completedAt, externalID, datasetPath, jobToken, agentID, claimedAt, attempts, leaseExpiresAt

    var name: String {
        switch self {
        case .id: "id"
        case .userID: "user_id"
        case .modelName: "model_name"
        case .datasetID: "dataset_id"
        case .status: "status"
        case .config: "config"
        case .progress: "progress"
        case .currentStep: "current_step"
        case .totalSteps: "total_steps"
        case .currentEpoch: "current_epoch"
        case .totalEpochs: "total_epochs"
        case .trainLoss: "train_loss"
        case .evalLoss: "eval_loss"
        case .bestEvalLoss: "best_eval_loss"
        case .errorMessage: "error_message"
        case .resumedFromJobID: "resumed_from_job_id"
        case .jobTokenHash: "job_token_hash"
        case .createdAt: "created_at"
        case .updatedAt: "updated_at"
        case .startedAt: "started_at"
        case .completedAt: "completed_at"
        case .externalID: "external_id"
        case .datasetPath: "dataset_path"
        case .jobToken: "job_token"
        case .agentID: "agent_id"
        case .claimedAt: "claimed_at"
        case .attempts: "attempts"
        case .leaseExpiresAt: "lease_expires_at"
        }
    }

    /// Whether the column is a point in time (milliseconds in SQLite, `timestamptz` in PostgreSQL).
    var isTimestamp: Bool {
        switch self {
        case .createdAt, .updatedAt, .startedAt, .completedAt, .claimedAt, .leaseExpiresAt: true
        default: false
        }
    }

    /// `config`, the job's hyperparameters.
    var isJSON: Bool { self == .config }

    /// Set when the job is created, or by claims and lost agents alone: `update` keeps the stored values.
    var isFixed: Bool {
        switch self {
        case .id, .userID, .resumedFromJobID, .jobTokenHash, .createdAt, .externalID, .jobToken, .agentID, .claimedAt, .attempts: true
        default: false
        }
    }
}

/// The columns of `training_metrics` that a `MetricPoint` holds (the key `job_id` aside), in row order.
enum MetricColumn: Int32, TableColumn {
    case step, epoch, trainLoss, evalLoss, learningRate, gradNorm, gpuMemoryAllocatedGB, gpuUtilizationPercent
    case samplesPerSecond, tokensPerSecond, recordedAt, gpuMemoryReservedGB, perplexity, trainPerplexity, evalPerplexity

    /// The point's measure this column holds; nil for the step and the time.
    var measure: MetricPoint.Measure? {
        switch self {
        case .step, .recordedAt: nil
        case .epoch: .epoch
        case .trainLoss: .trainLoss
        case .evalLoss: .evalLoss
        case .learningRate: .learningRate
        case .gradNorm: .gradNorm
        case .gpuMemoryAllocatedGB: .gpuMemoryAllocatedGB
        case .gpuUtilizationPercent: .gpuUtilizationPercent
        case .samplesPerSecond: .samplesPerSecond
        case .tokensPerSecond: .tokensPerSecond
        case .gpuMemoryReservedGB: .gpuMemoryReservedGB
        case .perplexity: .perplexity
        case .trainPerplexity: .trainPerplexity
        case .evalPerplexity: .evalPerplexity
        }
    }

    /// The columns that hold a measure, each with its measure.
    static let measured: [(column: MetricColumn, measure: MetricPoint.Measure)] = allCases.compactMap { column in
        column.measure.map { (column, $0) }
    }

    var name: String { measure?.name ?? (self == .step ? "step" : "recorded_at") }

    /// Whether the column is a point in time (milliseconds in SQLite, `timestamptz` in PostgreSQL).
    var isTimestamp: Bool { self == .recordedAt }
}

/// The columns of `training_agents`.
enum AgentColumn: Int32, TableColumn {
    case userID, agentID, hostname, platform, version, registeredAt, lastPollAt

    var name: String {
        switch self {
        case .userID: "user_id"
        case .agentID: "agent_id"
        case .hostname: "hostname"
        case .platform: "platform"
        case .version: "version"
        case .registeredAt: "registered_at"
        case .lastPollAt: "last_poll_at"
        }
    }

    /// Whether the column is a point in time (milliseconds in SQLite, `timestamptz` in PostgreSQL).
    var isTimestamp: Bool { self == .registeredAt || self == .lastPollAt }
}

/// The columns of `training_logs`: one row per kept line, numbered from 1 in the order the job appended them.
enum LogLineColumn: Int32, TableColumn {
    case jobID, sequence, line

    var name: String {
        switch self {
        case .jobID: "job_id"
        case .sequence: "seq"
        case .line: "line"
        }
    }

    var isTimestamp: Bool { false }
}

/// The columns of `training_predictions`, in row order.
enum PredictionColumn: Int32, TableColumn {
    case id, jobID, epoch, step, sampleIndex, prompt, prediction, groundTruth, exactMatch, charErrorRate, lengthRatio, wordOverlap
    case promptTokens, completionTokens, totalTokens, latencyMS, validationPass, validationKind, validationErrors, createdAt

    var name: String {
        switch self {
        case .id: "id"
        case .jobID: "job_id"
        case .epoch: "epoch"
        case .step: "step"
        case .sampleIndex: "sample_index"
        case .prompt: "prompt"
        case .prediction: "prediction"
        case .groundTruth: "ground_truth"
        case .exactMatch: "exact_match"
        case .charErrorRate: "char_error_rate"
        case .lengthRatio: "length_ratio"
        case .wordOverlap: "word_overlap"
        case .promptTokens: "prompt_tokens"
        case .completionTokens: "completion_tokens"
        case .totalTokens: "total_tokens"
        case .latencyMS: "latency_ms"
        case .validationPass: "validation_pass"
        case .validationKind: "validation_kind"
        case .validationErrors: "validation_errors"
        case .createdAt: "created_at"
        }
    }

    /// Whether the column is a point in time (milliseconds in SQLite, `timestamptz` in PostgreSQL).
    var isTimestamp: Bool { self == .createdAt }

    /// Part of the key a re-sent prediction is matched on (with `jobID`): an upsert keeps the stored row's id and time.
    var isKey: Bool { self == .jobID || self == .epoch || self == .step || self == .sampleIndex }
}

/// One epoch's summary of a job's predictions (`trends`/`epochs`), in row order; averages skip nulls.
enum PredictionEpochColumn: Int32, QueryColumn {
    case epoch, latestStep, count, avgExactMatch, avgCharErrorRate, avgLengthRatio, avgWordOverlap, minCharErrorRate, maxCharErrorRate
    case validationPassRate

    /// The expression over the epoch's rows; averages as floating point (PostgreSQL's avg of integers is numeric).
    func expression(_ dialect: SQLDialect) -> String {
        switch self {
        case .epoch, .latestStep, .count: aggregate
        default: "CAST(\(aggregate) AS DOUBLE PRECISION)"
        }
    }

    private var aggregate: String {
        switch self {
        case .epoch: "epoch"
        case .latestStep: "max(step)"
        case .count: "count(*)"
        case .avgExactMatch: "avg(exact_match)"
        case .avgCharErrorRate: "avg(char_error_rate)"
        case .avgLengthRatio: "avg(length_ratio)"
        case .avgWordOverlap: "avg(word_overlap)"
        case .minCharErrorRate: "min(char_error_rate)"
        case .maxCharErrorRate: "max(char_error_rate)"
        case .validationPassRate: "avg(CASE WHEN validation_pass THEN 1.0 WHEN NOT validation_pass THEN 0.0 END)"
        }
    }
}
