public import Logging
public import Storage
import Synchronization

/// Coalesces API-key usage (`request_count`, `last_used_at`) in memory and
/// writes it in one transaction every `flushInterval`, so no request waits
/// on a database write for it. A crashed worker loses at most one interval
/// of counts.
public final class UsageRecorder: Sendable {
    private let store: any APIKeyStore
    private let logger: Logger
    private let pending = Mutex<[String: APIKeyUsage]>([:])

    public init(store: any APIKeyStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Counts one request made with `keyID` at `time`.
    public func record(keyID: String, at time: Timestamp) {
        pending.withLock { pending in
            if var usage = pending[keyID] {
                usage.requests += 1
                if time > usage.lastUsedAt { usage.lastUsedAt = time }
                pending[keyID] = usage
            } else {
                pending[keyID] = APIKeyUsage(keyID: keyID, requests: 1, lastUsedAt: time)
            }
        }
    }

    /// Writes what has accumulated. On failure the counts are put back for the next flush.
    public func flush() {
        let batch = pending.withLock { pending -> [APIKeyUsage] in
            defer { pending.removeAll(keepingCapacity: true) }
            return Array(pending.values)
        }
        guard !batch.isEmpty else { return }
        do {
            try store.recordUsage(batch)
        } catch {
            logger.warning("could not record API key usage; will retry", metadata: ["error": "\(error)", "usage.keys": "\(batch.count)"])
            pending.withLock { pending in
                for usage in batch {
                    if var current = pending[usage.keyID] {
                        current.requests += usage.requests
                        current.lastUsedAt = max(current.lastUsedAt, usage.lastUsedAt)
                        pending[usage.keyID] = current
                    } else {
                        pending[usage.keyID] = usage
                    }
                }
            }
        }
    }
}
