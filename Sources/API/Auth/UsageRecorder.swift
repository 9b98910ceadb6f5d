public import Domain
import Essentials
public import Logging

/// Coalesces API-key usage (`request_count`, `last_used_at`) in memory and
/// writes it in one transaction every flush interval, so no request waits on
/// a database write for it. A crashed worker loses at most one interval of
/// counts. The counters are striped by key so threads rarely share a lock.
public final class UsageRecorder: @unchecked Sendable {
    // @unchecked: each stripe's dictionary is only touched under its lock.
    private final class Stripe {
        let lock = Lock()
        var pending: [String: APIKeyUsage] = [:]
    }

    private let store: any APIKeyStore
    private let logger: Logger
    private let stripes = (0..<16).map { _ in Stripe() }

    public init(store: any APIKeyStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Counts one request made with `keyID` at `time`.
    public func record(keyID: String, at time: Timestamp) {
        add(APIKeyUsage(keyID: keyID, requests: 1, lastUsedAt: time))
    }

    private func add(_ usage: APIKeyUsage) {
        // Key ids are UUIDs: their last two characters spread keys over the stripes as well as the whole would.
        let tail = usage.keyID.utf8.suffix(2).reduce(0) { $0 &* 31 &+ Int($1) }
        let stripe = stripes[tail % stripes.count]
        stripe.lock.withLock {
            // Changed in place: one hash of the key, where a read and then a write hashed it twice.
            stripe.pending[usage.keyID, default: APIKeyUsage(keyID: usage.keyID, requests: 0, lastUsedAt: usage.lastUsedAt)].add(usage)
        }
    }

    /// Writes what has accumulated. On failure the counts are kept for the next flush.
    public func flush() {
        var batch: [APIKeyUsage] = []
        for stripe in stripes {
            stripe.lock.withLock {
                batch.append(contentsOf: stripe.pending.values)
                stripe.pending.removeAll(keepingCapacity: true)
            }
        }
        guard !batch.isEmpty else { return }
        do {
            try store.recordUsage(batch)
        } catch {
            logger.warning("could not record API key usage; will retry", metadata: ["error": "\(error)", "usage.keys": "\(batch.count)"])
            batch.forEach(add)
        }
    }
}

extension APIKeyUsage {
    /// Adds `other`'s requests; the later of the two last uses stays.
    fileprivate mutating func add(_ other: APIKeyUsage) {
        requests += other.requests
        if other.lastUsedAt > lastUsedAt { lastUsedAt = other.lastUsedAt }
    }
}
