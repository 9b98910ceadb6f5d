import Essentials
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The pool's figures, in shared memory that the master creates and every worker maps: one slot per
/// worker process (pid, generation, requests, threads busy, state), the master's own counters, and the
/// request counters and histograms behind `/metrics`.
///
/// Workers are separate processes: a process-local metrics library would count each worker apart, lose a
/// worker's figures when it exits, and could not answer at all while every worker thread is busy. Here
/// every writer adds with atomic instructions on the shared pages, counters outlive the workers that
/// moved them, and the master reads them without asking any worker.
public final class Scoreboard: @unchecked Sendable {
    // @unchecked: every field lives in the shared region and is read and written with atomic
    // instructions only; the mapping itself is fixed for the object's life.

    /// What a worker process is doing, as its slot says.
    public enum WorkerState: Int64, Sendable {
        case free = 0
        case starting = 1
        case serving = 2
        case draining = 3

        /// The case's name, as `/status` and `/metrics` write it.
        var name: String { "\(self)" }
    }

    /// Why a worker asks the master to replace it.
    public enum RecycleReason: Int64, Sendable {
        case maxRequests = 1
        case memory = 2
        case stuckThread = 3
    }

    /// The master's state, as `/status` reports it.
    public enum PoolState: Int64, Sendable {
        case running = 0
        case reloading = 1
        case degraded = 2
        case stopping = 3

        /// The case's name, as `/status` writes it.
        var name: String { "\(self)" }
    }

    enum Header: Int {
        case magic, masterPID, generation, startedAtMilliseconds, state
        case crashed, recycled, reloaded
        case accepted, slow, timedOut, rateLimited
        case labelsWritten
        /// One past the highest slot ever claimed: readers scan no further.
        case slotsUsed
    }

    enum WorkerField: Int {
        case pid, generation, startedAtMilliseconds, requests, active, state, recycleReason, anonymousBytes, connections, takesConnections
    }

    public static let workerSlotCount = 512
    /// Route label 0 is `unmatched`; route i of the responder is label i + 1.
    public static let routeLabelCount = 256
    public static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"]
    /// Status codes counted apart; any other is counted as `other`.
    public static let statuses = [
        200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 416, 422, 429, 431,
        500, 501, 502, 503, 504,
    ]
    static let statusSlots = 32
    /// Upper bounds (seconds) of the duration histograms; one more bucket is +Inf.
    public static let durationBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    /// Buckets, +Inf, then the sum in microseconds.
    static let histogramStride = 16
    static let labelBytes = 128

    private static let magic: Int64 = 0x6674_6170_7362_6431  // "ftapisbd1"
    private static let headerWords = 64
    private static let workerWords = 16
    private static let workersOffset = headerWords * 8
    private static let requestsOffset = workersOffset + workerSlotCount * workerWords * 8
    private static let durationOffset = requestsOffset + routeLabelCount * methods.count * statusSlots * 8
    private static let databaseOffset = durationOffset + routeLabelCount * histogramStride * 8
    private static let labelsOffset = databaseOffset + histogramStride * 8

    /// Bytes of shared memory the scoreboard needs.
    public static var regionSize: Int { labelsOffset + routeLabelCount * labelBytes }

    private static let statusIndex: [Int8] = {
        var table = [Int8](repeating: Int8(statuses.count), count: 600)
        for (index, status) in statuses.enumerated() { table[status] = Int8(index) }
        return table
    }()

    private let region: SharedMemory

    /// Prepares a zeroed region (the master, once).
    public static func initialize(_ region: SharedMemory, masterPID: Int32) {
        precondition(region.size >= regionSize, "shared memory region too small for the scoreboard")
        let board = Scoreboard(unchecked: region)
        board.store(.masterPID, Int64(masterPID))
        board.store(.startedAtMilliseconds, Clocks.wallMilliseconds())
        board.store(.generation, 1)
        board.store(.magic, magic)
    }

    private init(unchecked region: SharedMemory) { self.region = region }

    /// The scoreboard in a region that `initialize` prepared.
    public init(region: SharedMemory) {
        precondition(region.size >= Self.regionSize, "shared memory region too small for the scoreboard")
        self.region = region
        precondition(load(.magic) == Self.magic, "scoreboard region not initialised")
    }

    @inline(__always)
    private func word(_ offset: Int) -> UnsafeMutablePointer<Atomic<Int64>> {
        (region.base + offset).assumingMemoryBound(to: Atomic<Int64>.self)
    }

    func load(_ field: Header) -> Int64 { word(field.rawValue * 8).pointee.load(ordering: .acquiring) }
    func store(_ field: Header, _ value: Int64) { word(field.rawValue * 8).pointee.store(value, ordering: .releasing) }
    @discardableResult
    func add(_ field: Header, _ value: Int64 = 1) -> Int64 {
        word(field.rawValue * 8).pointee.wrappingAdd(value, ordering: .relaxed).newValue
    }

    private func workerWord(_ slot: Int, _ field: WorkerField) -> UnsafeMutablePointer<Atomic<Int64>> {
        word(Self.workersOffset + (slot * Self.workerWords + field.rawValue) * 8)
    }

    func load(slot: Int, _ field: WorkerField) -> Int64 { workerWord(slot, field).pointee.load(ordering: .acquiring) }
    func store(slot: Int, _ field: WorkerField, _ value: Int64) { workerWord(slot, field).pointee.store(value, ordering: .releasing) }

    // MARK: The master's side

    /// The pool generation: 1 at the first start, one more at each reload.
    public var generation: Int { Int(load(.generation)) }
    /// The master's state.
    public var state: PoolState {
        get { PoolState(rawValue: load(.state)) ?? .running }
        set { store(.state, newValue.rawValue) }
    }

    /// Counts a worker that ended: crashed, recycled or replaced by a reload.
    public func countRestart(_ reason: RestartReason) {
        switch reason {
        case .crash: add(.crashed)
        case .recycle: add(.recycled)
        case .reload: add(.reloaded)
        }
    }

    /// Starts a new generation (a reload) and forgets the route labels, which the new binary writes again.
    public func beginGeneration() {
        add(.generation)
        store(.labelsWritten, 0)
    }

    /// Claims a free worker slot for a process about to start; nil when all are taken.
    func claimSlot(generation: Int) -> Int? {
        for slot in 0..<Self.workerSlotCount where load(slot: slot, .state) == WorkerState.free.rawValue && load(slot: slot, .pid) == 0 {
            store(slot: slot, .generation, Int64(generation))
            store(slot: slot, .startedAtMilliseconds, Clocks.wallMilliseconds())
            store(slot: slot, .requests, 0)
            store(slot: slot, .active, 0)
            store(slot: slot, .recycleReason, 0)
            store(slot: slot, .anonymousBytes, 0)
            store(slot: slot, .connections, 0)
            store(slot: slot, .takesConnections, 0)
            store(slot: slot, .state, WorkerState.starting.rawValue)
            if load(.slotsUsed) <= slot { store(.slotsUsed, Int64(slot + 1)) }
            return slot
        }
        return nil
    }

    /// Records the pid of the process started in `slot`.
    func assign(slot: Int, pid: Int32) { store(slot: slot, .pid, Int64(pid)) }

    /// Frees the slot of a process that exited.
    func release(slot: Int) {
        store(slot: slot, .pid, 0)
        store(slot: slot, .active, 0)
        store(slot: slot, .state, WorkerState.free.rawValue)
    }

    func workerState(slot: Int) -> WorkerState { WorkerState(rawValue: load(slot: slot, .state)) ?? .free }
    func recycleReason(slot: Int) -> RecycleReason? { RecycleReason(rawValue: load(slot: slot, .recycleReason)) }

    // MARK: A worker's side

    /// Marks the worker in `slot` as serving or draining.
    public func setState(slot: Int, _ state: WorkerState) { store(slot: slot, .state, state.rawValue) }

    /// Asks the master to replace the worker in `slot`; the first reason sticks.
    public func requestRecycle(slot: Int, _ reason: RecycleReason) {
        _ = workerWord(slot, .recycleReason).pointee.compareExchange(expected: 0, desired: reason.rawValue, ordering: .acquiringAndReleasing)
    }

    /// Records the worker's anonymous memory (it reads its own, between requests).
    public func setAnonymousBytes(slot: Int, _ bytes: Int) { store(slot: slot, .anonymousBytes, Int64(bytes)) }

    /// Records how many nginx connections the worker in `slot` holds open (event dispatch).
    public func setConnections(slot: Int, _ count: Int) { store(slot: slot, .connections, Int64(count)) }

    /// Records whether the worker in `slot` takes new connections now (event dispatch, listening).
    public func setTakesConnections(slot: Int, _ takes: Bool) { store(slot: slot, .takesConnections, takes ? 1 : 0) }

    /// Whether a serving worker other than the one in `slot`, taking new connections, holds fewer than `count`.
    public func anotherWorkerHoldsFewerConnections(than count: Int, slot: Int) -> Bool {
        (0..<min(Self.workerSlotCount, Int(load(.slotsUsed)))).contains { other in
            other != slot && load(slot: other, .state) == WorkerState.serving.rawValue && load(slot: other, .takesConnections) == 1
                && load(slot: other, .connections) < Int64(count)
        }
    }

    /// A request was accepted by the worker in `slot`; returns the worker's request count including it.
    @inline(__always)
    public func requestStarted(slot: Int) -> Int {
        add(.accepted)
        workerWord(slot, .active).pointee.wrappingAdd(1, ordering: .relaxed)
        return Int(workerWord(slot, .requests).pointee.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    /// A request finished: counts it by route label (`nil`: unmatched), method and status, with its duration
    /// and the time its store work took.
    @inline(__always)
    public func requestFinished(slot: Int, route: Int?, method: String, status: Int, seconds: Double, databaseSeconds: Double) {
        workerWord(slot, .active).pointee.wrappingAdd(-1, ordering: .relaxed)
        let label = route.map { $0 + 1 < Self.routeLabelCount ? $0 + 1 : 0 } ?? 0
        let statusSlot = status >= 0 && status < Self.statusIndex.count ? Int(Self.statusIndex[status]) : Self.statuses.count
        let requestIndex = (label * Self.methods.count + Self.methodIndex(method)) * Self.statusSlots + statusSlot
        word(Self.requestsOffset + requestIndex * 8).pointee.wrappingAdd(1, ordering: .relaxed)
        observe(histogram: Self.durationOffset + label * Self.histogramStride * 8, seconds: seconds)
        observe(histogram: Self.databaseOffset, seconds: databaseSeconds)
        if status == 429 { add(.rateLimited) }
    }

    /// Counts a request that the slow log reported, or one that its deadline ended.
    public func countSlow() { add(.slow) }
    public func countTimedOut() { add(.timedOut) }

    @inline(__always)
    private func observe(histogram offset: Int, seconds: Double) {
        var bucket = 0
        while bucket < Self.durationBuckets.count && seconds > Self.durationBuckets[bucket] { bucket += 1 }
        word(offset + bucket * 8).pointee.wrappingAdd(1, ordering: .relaxed)
        word(offset + (Self.histogramStride - 1) * 8).pointee.wrappingAdd(Int64(seconds * 1e6), ordering: .relaxed)
    }

    @inline(__always)
    static func methodIndex(_ method: String) -> Int {
        switch method {
        case "GET": 0
        case "HEAD": 1
        case "POST": 2
        case "PUT": 3
        case "PATCH": 4
        case "DELETE": 5
        case "OPTIONS": 6
        default: 7
        }
    }

    /// Writes the responder's route labels once per generation (every worker offers; the first one writes).
    public func publishRouteLabels(_ labels: [(method: String, pattern: String)]) {
        guard word(Header.labelsWritten.rawValue * 8).pointee.compareExchange(expected: 0, desired: -1, ordering: .acquiringAndReleasing).exchanged
        else { return }
        for (index, label) in labels.prefix(Self.routeLabelCount - 1).enumerated() {
            let text = Array("\(label.method) \(label.pattern)".utf8.prefix(Self.labelBytes - 1)) + [0]
            let destination = region.base + Self.labelsOffset + (index + 1) * Self.labelBytes
            text.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        store(.labelsWritten, Int64(min(labels.count, Self.routeLabelCount - 1)))
    }

    // MARK: Reading (the master's status listener)

    /// One worker process as its slot describes it.
    public struct Worker: Sendable {
        public var slot: Int
        public var pid: Int32
        public var generation: Int
        public var startedAtMilliseconds: Int64
        public var requests: Int
        public var active: Int
        /// nginx connections the worker holds open (event dispatch; 0 with a thread per connection).
        public var connections: Int
        public var state: String
    }

    /// Every slot that holds a process.
    public func workers() -> [Worker] {
        (0..<Self.workerSlotCount).compactMap { slot in
            let pid = load(slot: slot, .pid)
            guard pid != 0 else { return nil }
            return Worker(
                slot: slot, pid: Int32(pid), generation: Int(load(slot: slot, .generation)),
                startedAtMilliseconds: load(slot: slot, .startedAtMilliseconds), requests: Int(load(slot: slot, .requests)),
                active: max(0, Int(load(slot: slot, .active))), connections: Int(load(slot: slot, .connections)),
                state: workerState(slot: slot).name)
        }
    }

    /// The route labels that workers published: index 0 is `unmatched`.
    func routeLabels() -> [(method: String, pattern: String)?] {
        let written = max(0, Int(load(.labelsWritten)))
        var labels: [(method: String, pattern: String)?] = [nil]
        for index in 1..<Self.routeLabelCount {
            guard index <= written else {
                labels.append(nil)
                continue
            }
            let pointer = (region.base + Self.labelsOffset + index * Self.labelBytes).assumingMemoryBound(to: CChar.self)
            let text = String(cString: pointer)
            let parts = text.split(separator: " ", maxSplits: 1)
            labels.append(parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil)
        }
        return labels
    }

    func requestCount(label: Int, method: Int, statusSlot: Int) -> Int64 {
        word(Self.requestsOffset + ((label * Self.methods.count + method) * Self.statusSlots + statusSlot) * 8).pointee.load(ordering: .relaxed)
    }

    /// A histogram's buckets (not cumulative; the last is +Inf) and its sum in seconds.
    func durationHistogram(label: Int) -> (buckets: [Int64], sumSeconds: Double) {
        histogram(at: Self.durationOffset + label * Self.histogramStride * 8)
    }

    func databaseHistogram() -> (buckets: [Int64], sumSeconds: Double) { histogram(at: Self.databaseOffset) }

    private func histogram(at offset: Int) -> (buckets: [Int64], sumSeconds: Double) {
        let buckets = (0...Self.durationBuckets.count).map { word(offset + $0 * 8).pointee.load(ordering: .relaxed) }
        return (buckets, Double(word(offset + (Self.histogramStride - 1) * 8).pointee.load(ordering: .relaxed)) / 1e6)
    }
}

/// Why a worker process ended, as `ftapi_worker_restarts_total{reason}` counts it.
public enum RestartReason: String, Sendable, CaseIterable {
    case crash
    case recycle
    case reload
}
