public import Domain

/// Settings of the training agents' routes and of the dataset URLs their jobs carry.
public struct AgentSettings: Sendable {
    /// How long a claimed job stays its agent's without a poll or a write, and how many lost agents it survives.
    public var lease: AgentLeaseTerms
    /// What polls tell agents to wait between polls.
    public var pollIntervalSeconds: Int
    /// An agent that polled within this many seconds is online.
    public var onlineThresholdSeconds: Int
    /// How long a job's `dataset_url` works.
    public var datasetURLSeconds: Double
    /// The origin of `dataset_url` (`https://api.example.com`); nil takes each request's own (`Host` and scheme).
    public var publicURL: String?

    public init(
        lease: AgentLeaseTerms = AgentLeaseTerms(), pollIntervalSeconds: Int = 10, onlineThresholdSeconds: Int = 60,
        datasetURLSeconds: Double = 7200, publicURL: String? = nil
    ) {
        self.lease = lease
        self.pollIntervalSeconds = pollIntervalSeconds
        self.onlineThresholdSeconds = onlineThresholdSeconds
        self.datasetURLSeconds = datasetURLSeconds
        self.publicURL = publicURL
    }
}
