import API
import Domain
import Foundation
import HTTPCore
import Testing

@Suite("GET /api/training/stats")
struct TrainingStatsTests {
    static let keys: Set<String> = ["total_jobs", "completed", "running", "failed", "pending", "cancelled", "paused"]

    func jobs(_ user: String, _ status: JobStatus, _ count: Int) -> [TrainingJob] {
        (0..<count).map { index in
            TrainingJob(
                id: newUserID(), userID: user, modelName: "model-\(index)", status: status,
                createdAt: Timestamp(millisecondsSinceEpoch: 1_766_000_000_000 + Int64(index))
            )
        }
    }

    @Test func countsPerStatusForTheCallerOnly() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let other = newUserID()
        let (key, _) = try env.insertKey(userID: user, scopes: [.training])
        try env.store.trainingJobs.insert(
            jobs(user, .completed, 4) + jobs(user, .running, 2) + jobs(user, .failed, 3) + jobs(user, .pending, 1)
                + jobs(user, .cancelled, 5) + jobs(user, .paused, 6)
        )
        // Someone else's jobs, in every status: not counted.
        try env.store.trainingJobs.insert(JobStatus.allCases.flatMap { jobs(other, $0, 10) })

        let response = env.stats(["X-API-Key": key])
        #expect(response.status.code == 200)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        let body = try response.object()
        #expect(Set(body.keys) == Self.keys)
        #expect(
            body == [
                "total_jobs": .int(21), "completed": .int(4), "running": .int(2), "failed": .int(3), "pending": .int(1),
                "cancelled": .int(5), "paused": .int(6),
            ])
        let buckets = body.filter { $0.key != "total_jobs" }.values.compactMap(\.intValue)
        #expect(body["total_jobs"]?.intValue == buckets.reduce(0, +))
    }

    @Test func userWithoutJobsGetsZeros() throws {
        let env = try TestEnvironment()
        try env.store.trainingJobs.insert(jobs(newUserID(), .running, 3))
        let body = try env.stats(env.sessionHeaders(userID: newUserID())).object()
        #expect(Set(body.keys) == Self.keys)
        #expect(body.values.allSatisfy { $0 == .int(0) })
    }

    @Test func sessionAndKeyOfTheSameUserSeeTheSameCounts() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let (key, _) = try env.insertKey(userID: user)
        try env.store.trainingJobs.insert(jobs(user, .paused, 2) + jobs(user, .completed, 1))
        let viaKey = try env.stats(["X-API-Key": key]).object()
        let viaSession = try env.stats(env.sessionHeaders(userID: user)).object()
        #expect(viaKey == viaSession)
        #expect(viaKey["paused"] == .int(2))
        #expect(viaKey["total_jobs"] == .int(3))
    }
}
