import Essentials
import JSON

/// Answers of the Hub kept for a while, shared by a worker's threads and
/// bounded in entries (the least recently used is dropped first).
final class ModelSearchCache: @unchecked Sendable {
    // @unchecked: every access to the mutable state holds `lock`.
    private struct Entry {
        var models: [JSONValue]
        var expires: Double
        var lastUsed: UInt64
    }

    private let lock = Lock()
    private var entries: [String: Entry] = [:]
    private var clock: UInt64 = 0
    let capacity: Int
    let lifetimeSeconds: Double

    init(capacity: Int, lifetimeSeconds: Double) {
        self.capacity = capacity
        self.lifetimeSeconds = lifetimeSeconds
    }

    var count: Int { lock.withLock { entries.count } }

    /// The models stored under `key`, unless they have expired.
    func models(for key: String, now: Double) -> [JSONValue]? {
        lock.withLock {
            guard var entry = entries[key] else { return nil }
            guard entry.expires > now else {
                entries[key] = nil
                return nil
            }
            clock += 1
            entry.lastUsed = clock
            entries[key] = entry
            return entry.models
        }
    }

    func store(_ models: [JSONValue], for key: String, now: Double) {
        guard capacity > 0, lifetimeSeconds > 0 else { return }
        lock.withLock {
            if entries[key] == nil, entries.count >= capacity {
                // Expired entries go first; else the least recently used. A
                // linear scan: the capacity is a few hundred at most, and this
                // runs only when a new answer arrives from the network.
                let expired = entries.filter { $0.value.expires <= now }.map(\.key)
                if expired.isEmpty {
                    if let oldest = entries.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key { entries[oldest] = nil }
                } else {
                    for key in expired { entries[key] = nil }
                }
            }
            clock += 1
            entries[key] = Entry(models: models, expires: now + lifetimeSeconds, lastUsed: clock)
        }
    }
}
