/// An API key as stored: never the key itself, only its SHA-256.
public struct APIKeyRecord: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var name: String
    /// Lowercase hex SHA-256 of the full key; unique, so lookups use the index.
    public var keyHash: String
    /// The first 12 characters of the key, for people to recognise it.
    public var keyPrefix: String
    public var scopes: [Scope]
    public var createdAt: Timestamp
    public var lastUsedAt: Timestamp?
    public var requestCount: Int64
    public var revokedAt: Timestamp?

    public init(
        id: String, userID: String, name: String, keyHash: String, keyPrefix: String, scopes: [Scope],
        createdAt: Timestamp, lastUsedAt: Timestamp? = nil, requestCount: Int64 = 0, revokedAt: Timestamp? = nil
    ) {
        self.id = id
        self.userID = userID
        self.name = name
        self.keyHash = keyHash
        self.keyPrefix = keyPrefix
        self.scopes = scopes
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.requestCount = requestCount
        self.revokedAt = revokedAt
    }
}

/// What authenticating a request needs of a key, read by its hash on every API-key request: fewer
/// columns and Strings than the whole `APIKeyRecord`.
public struct APIKeyCredential: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var keyHash: String
    public var scopes: [Scope]
    public var isRevoked: Bool

    public init(id: String, userID: String, keyHash: String, scopes: [Scope], isRevoked: Bool) {
        self.id = id
        self.userID = userID
        self.keyHash = keyHash
        self.scopes = scopes
        self.isRevoked = isRevoked
    }
}

/// Requests made with one key since the last flush.
public struct APIKeyUsage: Sendable, Equatable {
    public var keyID: String
    public var requests: Int64
    public var lastUsedAt: Timestamp

    public init(keyID: String, requests: Int64, lastUsedAt: Timestamp) {
        self.keyID = keyID
        self.requests = requests
        self.lastUsedAt = lastUsedAt
    }
}
