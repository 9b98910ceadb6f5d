/// The status of a training job.
public enum JobStatus: String, Sendable, CaseIterable, Codable {
    case pending, running, paused, completed, failed, cancelled

    /// Completed, failed and cancelled jobs never change status again.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        case .pending, .running, .paused: false
        }
    }

    /// The contract's legal transitions: pending→running, pending→cancelled,
    /// running→paused, paused→running, running→completed, running→failed,
    /// running|paused→cancelled.
    public func canTransition(to next: JobStatus) -> Bool {
        switch (self, next) {
        case (.pending, .running), (.pending, .cancelled), (.running, .paused), (.paused, .running),
            (.running, .completed), (.running, .failed), (.running, .cancelled), (.paused, .cancelled):
            true
        default:
            false
        }
    }
}
