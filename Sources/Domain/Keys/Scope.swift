/// Scopes an API key can grant. `all` grants every other scope.
public enum Scope: String, Sendable, CaseIterable, Codable {
    case all, training, analytics, datasets, models, notifications
}
