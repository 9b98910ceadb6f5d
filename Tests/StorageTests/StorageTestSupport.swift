import Domain
import Foundation
import Storage
import TestDatabases
import Testing

/// A temporary directory, removed by `remove()` or when the value goes away.
final class TemporaryDirectory: @unchecked Sendable {
    // @unchecked: immutable after init.
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/ftapi-storage-XXXXXX").utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let result else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: result)
    }

    var databasePath: String { path + "/t.db" }

    func store() -> SQLiteStore {
        SQLiteStore(configuration: SQLiteConfiguration(path: databasePath))
    }

    /// A store on a migrated database: a copy of the process's migrated template.
    func migratedStore() throws -> SQLiteStore {
        try TestDatabases.copySQLiteTemplate(to: databasePath)
        return store()
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    deinit { remove() }
}

/// Runs `body` on `count` threads of their own, started together, and returns
/// what each returned or threw, in thread order.
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (_ thread: Int) throws -> T) -> [Result<T, any Error>] {
    let results = Locked([Result<T, any Error>?](repeating: nil, count: count))
    let start = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    for index in 0..<count {
        done.enter()
        Thread {
            start.wait()
            let result = Result { try body(index) }
            results.withLock { $0[index] = result }
            done.leave()
        }.start()
    }
    for _ in 0..<count { start.signal() }
    done.wait()
    return results.withLock { $0.map { $0! } }
}

/// A value shared between threads behind a lock.
final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

extension Result {
    var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Whether `error` is `StoreError.duplicate`.
func isDuplicate(_ error: any Error) -> Bool {
    if case StoreError.duplicate = error { return true }
    return false
}

/// Whether `error` is `StoreError.missingReference`.
func isMissingReference(_ error: any Error) -> Bool {
    if case StoreError.missingReference = error { return true }
    return false
}

func uuid() -> String { UUID().uuidString.lowercased() }

/// 2025-12-17T19:33:20Z plus `seconds`: the tests' fixed clock.
func instant(_ seconds: Double = 0) -> Timestamp {
    Timestamp(millisecondsSinceEpoch: 1_766_000_000_000).adding(seconds: seconds)
}

/// A key record with a unique (fake) hash; the store never sees the key itself.
func keyRecord(
    userID: String, name: String, createdAt: Timestamp = instant(), scopes: [Scope] = [.all], revokedAt: Timestamp? = nil
) -> APIKeyRecord {
    let hash = (uuid() + uuid()).replacingOccurrences(of: "-", with: "")
    return APIKeyRecord(
        id: uuid(), userID: userID, name: name, keyHash: hash, keyPrefix: "wak_" + String(hash.prefix(8)), scopes: scopes,
        createdAt: createdAt, revokedAt: revokedAt
    )
}

func job(
    userID: String, status: JobStatus = .pending, model: String = "model", datasetID: String? = nil, createdAt: Timestamp = instant()
) -> TrainingJob {
    TrainingJob(id: uuid(), userID: userID, modelName: model, datasetID: datasetID, status: status, createdAt: createdAt)
}

func dataset(
    userID: String, name: String? = nil, format: String = "chatml", examples: Int64 = 10, createdAt: Timestamp = instant()
) -> DatasetRecord {
    let id = uuid()
    return DatasetRecord(
        id: id, userID: userID, name: name ?? "set-\(id.prefix(8))", format: format, sizeBytes: 100 * examples, totalExamples: examples,
        sha256: String(repeating: "ab", count: 32), filePath: "datasets/\(userID)/\(id).jsonl", createdAt: createdAt
    )
}

/// What a store's `update` closure throws when the job is not in the status it expects.
struct UnexpectedStatus: Error, Equatable {
    let status: JobStatus
}

/// `MetricsAggregate.Best`, which tests can't make (its initializer is internal).
struct BestEvalLoss: Equatable {
    var value: Double
    var jobID: String
    var step: Int64
}

extension MetricsAggregate {
    var best: BestEvalLoss? { bestEvalLoss.map { BestEvalLoss(value: $0.value, jobID: $0.jobID, step: $0.step) } }

    /// The aggregate without its best eval loss, to compare with one made in a test.
    var withoutBest: MetricsAggregate {
        var copy = self
        copy.bestEvalLoss = nil
        return copy
    }
}

/// What a `change` closure throws to refuse a change.
struct Refused: Error, Equatable {}
