import Domain
import Testing

/// A job's status changes: which the contract allows, and what applying one stamps on the job.
@Suite("Job status transitions")
struct JobTransitionTests {
    /// The contract's table, written out: pending→running|cancelled, running→paused|completed|failed|cancelled,
    /// paused→running|cancelled; nothing leaves completed, failed or cancelled.
    static let allowed: Set<String> = [
        "pending→running", "pending→cancelled", "running→paused", "running→completed", "running→failed", "running→cancelled",
        "paused→running", "paused→cancelled",
    ]

    static func job(_ status: JobStatus) -> TrainingJob {
        TrainingJob(id: "job", userID: "alice", modelName: "m", status: status, createdAt: Timestamp(millisecondsSinceEpoch: 1_000))
    }

    @Test func everyPairOfStatusesIsAllowedExactlyAsTheContractSays() {
        for from in JobStatus.allCases {
            for to in JobStatus.allCases {
                #expect(from.canTransition(to: to) == Self.allowed.contains("\(from)→\(to)"), "\(from) → \(to)")
            }
        }
    }

    @Test func onlyCompletedFailedAndCancelledAreTerminal() {
        #expect(JobStatus.allCases.filter(\.isTerminal) == [.completed, .failed, .cancelled])
        for status in JobStatus.allCases where status.isTerminal {
            #expect(JobStatus.allCases.allSatisfy { !status.canTransition(to: $0) }, "\(status) changes again")
        }
    }

    @Test func startingStampsTheStartOnceAndEndingStampsTheCompletion() throws {
        var job = Self.job(.pending)
        let (start, pause, resume, end) = (
            Timestamp(millisecondsSinceEpoch: 2_000), Timestamp(millisecondsSinceEpoch: 3_000), Timestamp(millisecondsSinceEpoch: 4_000),
            Timestamp(millisecondsSinceEpoch: 5_000)
        )
        try job.transition(to: .running, at: start)
        #expect(job.status == .running && job.startedAt == start && job.updatedAt == start && job.completedAt == nil)
        try job.transition(to: .paused, at: pause)
        #expect(job.status == .paused && job.startedAt == start && job.updatedAt == pause && job.completedAt == nil)
        // Resuming keeps the first start.
        try job.transition(to: .running, at: resume)
        #expect(job.startedAt == start && job.updatedAt == resume)
        try job.transition(to: .completed, at: end)
        #expect(job.status == .completed && job.completedAt == end && job.updatedAt == end && job.startedAt == start)
        #expect(job.createdAt == Timestamp(millisecondsSinceEpoch: 1_000))
    }

    @Test(arguments: [JobStatus.failed, .cancelled])
    func everyEndStampsTheCompletion(_ end: JobStatus) throws {
        var job = Self.job(.running)
        try job.transition(to: end, at: Timestamp(millisecondsSinceEpoch: 9_000))
        #expect(job.status == end && job.completedAt == Timestamp(millisecondsSinceEpoch: 9_000))
    }

    @Test func aPendingJobCancelledWasNeverStarted() throws {
        var job = Self.job(.pending)
        try job.transition(to: .cancelled, at: Timestamp(millisecondsSinceEpoch: 2_000))
        #expect(job.startedAt == nil && job.completedAt == Timestamp(millisecondsSinceEpoch: 2_000))
    }

    @Test func aChangeTheContractRefusesThrowsItAndChangesNothing() {
        for from in JobStatus.allCases {
            for to in JobStatus.allCases where !Self.allowed.contains("\(from)→\(to)") {
                let before = Self.job(from)
                var job = before
                #expect(
                    performing: { try job.transition(to: to, at: Timestamp(millisecondsSinceEpoch: 7_000)) },
                    throws: { ($0 as? JobTransitionError).map { $0.current == from && $0.requested == to } ?? false })
                #expect(job == before, "\(from) → \(to)")
            }
        }
    }
}
