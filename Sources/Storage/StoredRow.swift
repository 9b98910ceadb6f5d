import Domain

/// A row of a query's result as both backends read it, and the records read from one. A record's columns
/// are its table's column enum (`TableColumns.swift`), whose raw values are the row's indexes on both
/// backends, so each record is read by one initializer here whatever the backend.
protocol StoredRow {
    func isNull(_ column: Int32) -> Bool
    func int(_ column: Int32) -> Int64
    func double(_ column: Int32) -> Double
    func bool(_ column: Int32) -> Bool
    func string(_ column: Int32) -> String
    /// The status named by the column's text; a backend may read it without making a String.
    func jobStatus(_ column: Int32) -> JobStatus?
    /// The scopes the column's list names (`ScopeList`); a backend may read them without making a String.
    func scopes(_ column: Int32) -> [Scope]
}

extension StoredRow {
    func jobStatus(_ column: Int32) -> JobStatus? { JobStatus(rawValue: string(column)) }
    func scopes(_ column: Int32) -> [Scope] { ScopeList.decode(string(column)) }
    func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }
    func optionalInt(_ column: Int32) -> Int64? { isNull(column) ? nil : int(column) }
    func optionalDouble(_ column: Int32) -> Double? { isNull(column) ? nil : double(column) }
    func optionalBool(_ column: Int32) -> Bool? { isNull(column) ? nil : bool(column) }
    /// A column read as milliseconds since the epoch (how both backends select a point in time).
    func timestamp(_ column: Int32) -> Timestamp { Timestamp(millisecondsSinceEpoch: int(column)) }
    func optionalTimestamp(_ column: Int32) -> Timestamp? { isNull(column) ? nil : timestamp(column) }

    func int<Column: RawRepresentable<Int32>>(_ column: Column) -> Int64 { int(column.rawValue) }
    func double<Column: RawRepresentable<Int32>>(_ column: Column) -> Double { double(column.rawValue) }
    func bool<Column: RawRepresentable<Int32>>(_ column: Column) -> Bool { bool(column.rawValue) }
    func string<Column: RawRepresentable<Int32>>(_ column: Column) -> String { string(column.rawValue) }
    func jobStatus<Column: RawRepresentable<Int32>>(_ column: Column) -> JobStatus? { jobStatus(column.rawValue) }
    func scopes<Column: RawRepresentable<Int32>>(_ column: Column) -> [Scope] { scopes(column.rawValue) }
    func optionalString<Column: RawRepresentable<Int32>>(_ column: Column) -> String? { optionalString(column.rawValue) }
    func optionalInt<Column: RawRepresentable<Int32>>(_ column: Column) -> Int64? { optionalInt(column.rawValue) }
    func optionalDouble<Column: RawRepresentable<Int32>>(_ column: Column) -> Double? { optionalDouble(column.rawValue) }
    func optionalBool<Column: RawRepresentable<Int32>>(_ column: Column) -> Bool? { optionalBool(column.rawValue) }
    func timestamp<Column: RawRepresentable<Int32>>(_ column: Column) -> Timestamp { timestamp(column.rawValue) }
    func optionalTimestamp<Column: RawRepresentable<Int32>>(_ column: Column) -> Timestamp? { optionalTimestamp(column.rawValue) }
}

extension APIKeyRecord {
    /// The APIKeyRecord in a row of `APIKeyColumn`'s columns (of `api_keys`).
    init(row: some StoredRow) {
        self.init(
            id: row.string(APIKeyColumn.id), userID: row.string(APIKeyColumn.userID), name: row.string(APIKeyColumn.name),
            keyHash: row.string(APIKeyColumn.keyHash), keyPrefix: row.string(APIKeyColumn.keyPrefix),
            scopes: row.scopes(APIKeyColumn.scopes), createdAt: row.timestamp(APIKeyColumn.createdAt),
            lastUsedAt: row.optionalTimestamp(APIKeyColumn.lastUsedAt), requestCount: row.int(APIKeyColumn.requestCount),
            revokedAt: row.optionalTimestamp(APIKeyColumn.revokedAt)
        )
    }
}

extension DatasetRecord {
    /// The DatasetRecord in a row of `DatasetColumn`'s columns (of `datasets`).
    init(row: some StoredRow) {
        self.init(
            id: row.string(DatasetColumn.id), userID: row.string(DatasetColumn.userID), name: row.string(DatasetColumn.name),
            format: row.string(DatasetColumn.format), sizeBytes: row.int(DatasetColumn.sizeBytes),
            totalExamples: row.int(DatasetColumn.totalExamples), sha256: row.string(DatasetColumn.sha256),
            filePath: row.string(DatasetColumn.filePath), createdAt: row.timestamp(DatasetColumn.createdAt)
        )
    }
}

extension NotificationPreferences {
    /// The NotificationPreferences in a row of `NotificationPreferenceColumn`'s columns (of `notification_preferences`).
    init(row: some StoredRow) {
        self.init()
        emailEnabled = row.bool(NotificationPreferenceColumn.emailEnabled)
        emailAddress = row.optionalString(NotificationPreferenceColumn.emailAddress)
        alertJobStarted = row.bool(NotificationPreferenceColumn.alertJobStarted)
        alertJobCompleted = row.bool(NotificationPreferenceColumn.alertJobCompleted)
        alertJobFailed = row.bool(NotificationPreferenceColumn.alertJobFailed)
        alertJobCancelled = row.bool(NotificationPreferenceColumn.alertJobCancelled)
        alertGPUOOM = row.bool(NotificationPreferenceColumn.alertGPUOOM)
        alertDiskWarning = row.bool(NotificationPreferenceColumn.alertDiskWarning)
        alertTimeoutWarning = row.bool(NotificationPreferenceColumn.alertTimeoutWarning)
        dailySummaryEnabled = row.bool(NotificationPreferenceColumn.dailySummaryEnabled)
        dailySummaryHour = Int(row.int(NotificationPreferenceColumn.dailySummaryHour))
        weeklyDigestEnabled = row.bool(NotificationPreferenceColumn.weeklyDigestEnabled)
        weeklyDigestDay = Int(row.int(NotificationPreferenceColumn.weeklyDigestDay))
        quietHoursEnabled = row.bool(NotificationPreferenceColumn.quietHoursEnabled)
        quietHoursStart = Int(row.int(NotificationPreferenceColumn.quietHoursStart))
        quietHoursEnd = Int(row.int(NotificationPreferenceColumn.quietHoursEnd))
        timezone = row.string(NotificationPreferenceColumn.timezone)
    }
}

extension TrainingJob {
    /// The TrainingJob in a row of `JobColumn`'s columns (of `training_jobs`).
    init(row: some StoredRow) {
        self.init(
            id: row.string(JobColumn.id), userID: row.string(JobColumn.userID), modelName: row.string(JobColumn.modelName),
            datasetID: row.optionalString(JobColumn.datasetID), status: row.jobStatus(JobColumn.status) ?? .pending,
            configJSON: row.string(JobColumn.config), progress: row.double(JobColumn.progress), currentStep: row.int(JobColumn.currentStep),
            totalSteps: row.optionalInt(JobColumn.totalSteps), currentEpoch: row.int(JobColumn.currentEpoch),
            totalEpochs: row.optionalInt(JobColumn.totalEpochs), trainLoss: row.optionalDouble(JobColumn.trainLoss),
            evalLoss: row.optionalDouble(JobColumn.evalLoss), bestEvalLoss: row.optionalDouble(JobColumn.bestEvalLoss),
            errorMessage: row.optionalString(JobColumn.errorMessage), resumedFromJobID: row.optionalString(JobColumn.resumedFromJobID),
            jobTokenHash: row.optionalString(JobColumn.jobTokenHash), createdAt: row.timestamp(JobColumn.createdAt),
            updatedAt: row.timestamp(JobColumn.updatedAt), startedAt: row.optionalTimestamp(JobColumn.startedAt),
            completedAt: row.optionalTimestamp(JobColumn.completedAt), externalID: row.optionalString(JobColumn.externalID),
            datasetPath: row.optionalString(JobColumn.datasetPath), jobToken: row.optionalString(JobColumn.jobToken),
            agentID: row.optionalString(JobColumn.agentID), claimedAt: row.optionalTimestamp(JobColumn.claimedAt),
            attempts: row.int(JobColumn.attempts), leaseExpiresAt: row.optionalTimestamp(JobColumn.leaseExpiresAt)
        )
    }
}

extension TrainingAgent {
    /// The TrainingAgent in a row of `AgentColumn`'s columns (of `training_agents`), holding no job yet.
    init(row: some StoredRow) {
        self.init(
            userID: row.string(AgentColumn.userID), id: row.string(AgentColumn.agentID), hostname: row.optionalString(AgentColumn.hostname),
            platform: row.optionalString(AgentColumn.platform), version: row.optionalString(AgentColumn.version),
            registeredAt: row.timestamp(AgentColumn.registeredAt), lastPollAt: row.timestamp(AgentColumn.lastPollAt)
        )
    }
}

extension MetricPoint {
    /// The MetricPoint in a row of `MetricColumn`'s columns (of `training_metrics`).
    init(row: some StoredRow) {
        self.init(step: row.int(MetricColumn.step), timestamp: row.optionalTimestamp(MetricColumn.recordedAt))
        for (column, measure) in MetricColumn.measured { self[measure] = row.optionalDouble(column) }
    }
}

extension TrainingPrediction {
    /// The TrainingPrediction in a row of `PredictionColumn`'s columns (of `training_predictions`).
    init(row: some StoredRow) {
        self.init(
            id: row.string(PredictionColumn.id), jobID: row.string(PredictionColumn.jobID), epoch: row.int(PredictionColumn.epoch),
            step: row.int(PredictionColumn.step), sampleIndex: row.int(PredictionColumn.sampleIndex), prompt: row.string(PredictionColumn.prompt),
            prediction: row.string(PredictionColumn.prediction), groundTruth: row.optionalString(PredictionColumn.groundTruth),
            exactMatch: row.optionalDouble(PredictionColumn.exactMatch), charErrorRate: row.optionalDouble(PredictionColumn.charErrorRate),
            lengthRatio: row.optionalDouble(PredictionColumn.lengthRatio), wordOverlap: row.optionalDouble(PredictionColumn.wordOverlap),
            promptTokens: row.optionalInt(PredictionColumn.promptTokens), completionTokens: row.optionalInt(PredictionColumn.completionTokens),
            totalTokens: row.optionalInt(PredictionColumn.totalTokens), latencyMS: row.optionalDouble(PredictionColumn.latencyMS),
            validationPass: row.optionalBool(PredictionColumn.validationPass),
            validationKind: row.optionalString(PredictionColumn.validationKind),
            validationErrorsJSON: row.optionalString(PredictionColumn.validationErrors), createdAt: row.timestamp(PredictionColumn.createdAt)
        )
    }
}
