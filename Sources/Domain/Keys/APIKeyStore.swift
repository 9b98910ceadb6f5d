/// API keys: creation, lookup by hash, listing, revocation and usage counters.
public protocol APIKeyStore: Sendable {
    /// Stores a new key; throws `StoreError.duplicate` when the user already has an active key of that name
    /// (a revoked key holds no name), or a key has the same hash.
    func insert(_ key: APIKeyRecord) throws
    /// The key whose hash is `keyHash` (revoked or not), found through the unique index.
    func find(keyHash: String) throws -> APIKeyRecord?
    /// What authentication needs of the key whose hash is `keyHash` (revoked or not): `find(keyHash:)`'s
    /// lookup without the columns a request never reads.
    func credential(keyHash: String) throws -> APIKeyCredential?
    /// The user's active keys, newest first (ties broken by id), and how many there are in all,
    /// both read from one snapshot (a write in between never makes them disagree).
    func list(userID: String, limit: Int, offset: Int) throws -> (keys: [APIKeyRecord], total: Int)
    /// Revokes the user's active key `id`; false when there is no such key.
    func revoke(id: String, userID: String, at time: Timestamp) throws -> Bool
    /// Adds coalesced usage to the keys' counters in one transaction. A key's
    /// `lastUsedAt` only moves forward; usage of unknown keys is dropped.
    func recordUsage(_ usage: [APIKeyUsage]) throws
}
