public import Essentials

/// The product's storage: one object per database, safe to use from every thread.
public protocol Store: Sendable {
    var apiKeys: any APIKeyStore { get }
    var trainingJobs: any TrainingJobStore { get }
    var datasets: any DatasetStore { get }
    var analytics: any AnalyticsStore { get }
    var notificationPreferences: any NotificationPreferencesStore { get }
    var trainingLogs: any TrainingLogStore { get }
    var trainingPredictions: any TrainingPredictionStore { get }
    var trainingAgents: any TrainingAgentStore { get }
    var serverSecrets: any ServerSecretStore { get }
    /// Brings the schema to the newest version; safe to run from several processes at once.
    func migrate() throws
    /// The schema version now in the database.
    func schemaVersion() throws -> Int
    /// Cheap round trip, for health checks.
    func ping() throws
    /// Runs one request's work, on the calling thread: its statements end at `clock`'s deadline, count their
    /// time on it and announce their waits through it; a store that pools connections hands the request one
    /// connection for all of `body`, taken at its first call.
    func scope<T>(_ clock: RequestClock?, _ body: () throws -> T) rethrows -> T
}
