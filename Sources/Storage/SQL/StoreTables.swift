public import Domain

/// The stores over one database, made once for both backends.
public struct StoreTables: Sendable {
    let apiKeys: any APIKeyStore
    let trainingJobs: any TrainingJobStore
    let datasets: any DatasetStore
    let analytics: any AnalyticsStore
    let notificationPreferences: any NotificationPreferencesStore
    let trainingLogs: any TrainingLogStore
    let trainingPredictions: any TrainingPredictionStore
    let trainingAgents: any TrainingAgentStore
    let serverSecrets: any ServerSecretStore

    init<Database: SQLDatabase>(database: Database) {
        apiKeys = SQLAPIKeyStore(database: database)
        trainingJobs = SQLTrainingJobStore(database: database)
        datasets = SQLDatasetStore(database: database)
        analytics = SQLAnalyticsStore(database: database)
        notificationPreferences = SQLNotificationPreferencesStore(database: database)
        let logs = SQLTrainingLogStore(database: database)
        trainingLogs = logs
        trainingPredictions = SQLTrainingPredictionStore(database: database)
        trainingAgents = SQLTrainingAgentStore(database: database, logs: logs)
        serverSecrets = SQLServerSecretStore(database: database)
    }
}

/// A `Store` whose stores are `StoreTables`: a backend's store class adds only what differs (opening the
/// database, migrating it, request scopes).
public protocol TableBackedStore: Store {
    var tables: StoreTables { get }
}

extension TableBackedStore {
    public var apiKeys: any APIKeyStore { tables.apiKeys }
    public var trainingJobs: any TrainingJobStore { tables.trainingJobs }
    public var datasets: any DatasetStore { tables.datasets }
    public var analytics: any AnalyticsStore { tables.analytics }
    public var notificationPreferences: any NotificationPreferencesStore { tables.notificationPreferences }
    public var trainingLogs: any TrainingLogStore { tables.trainingLogs }
    public var trainingPredictions: any TrainingPredictionStore { tables.trainingPredictions }
    public var trainingAgents: any TrainingAgentStore { tables.trainingAgents }
    public var serverSecrets: any ServerSecretStore { tables.serverSecrets }
}
