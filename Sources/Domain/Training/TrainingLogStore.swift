/// A page of a job's log.
public struct LogPage: Sendable, Equatable {
    /// The lines, oldest first.
    public var lines: [String]
    /// How many lines the job keeps now.
    public var total: Int
    /// The position of the first line among the kept lines (a negative request resolved from the end).
    public var offset: Int

    public init(lines: [String], total: Int, offset: Int) {
        self.lines = lines
        self.total = total
        self.offset = offset
    }
}

/// A job's log.
public enum JobLog {
    /// How many lines a job keeps: the newest.
    public static let keptLines = 10_000
}

/// The console lines trainers send for their jobs; a job keeps only its newest lines.
public protocol TrainingLogStore: Sendable {
    /// Appends `lines` to the log of job `jobID` in one transaction (concurrent appends to one
    /// job go one after the other), then drops the oldest lines beyond `keep`. Returns how many
    /// lines the job keeps now. With `tokenHash` (a trainer's write), throws `JobReassignedError`, appending nothing,
    /// when the job's token is no longer that one.
    func append(jobID: String, lines: [String], keep: Int, heldWith tokenHash: String?) throws -> Int
    /// At most `limit` kept lines of job `jobID` from position `offset` (a negative offset counts
    /// from the end: -10 is the last ten), and how many are kept, read from one snapshot.
    func lines(jobID: String, offset: Int, limit: Int) throws -> LogPage
}

extension LogPage {
    /// Where a page that asks for `offset` starts among `total` kept lines: a negative offset counts from the end (never before the first).
    package static func start(offset: Int, total: Int) -> Int {
        offset < 0 ? max(0, total + offset) : offset
    }
}

extension TrainingLogStore {
    /// `append` by no trainer's token.
    public func append(jobID: String, lines: [String], keep: Int) throws -> Int {
        try append(jobID: jobID, lines: lines, keep: keep, heldWith: nil)
    }
}
