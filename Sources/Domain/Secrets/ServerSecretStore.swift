/// Secrets the pool makes once and every worker of every host shares, kept in the database.
public protocol ServerSecretStore: Sendable {
    /// The secret `name`: the stored one, or `make()`'s value stored now if there is none (when several
    /// processes make it at once, all of them get the one stored first).
    func secret(named name: String, orMake make: () -> String) throws -> String
}
