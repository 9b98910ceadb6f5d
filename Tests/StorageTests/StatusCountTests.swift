import Foundation
import Storage
import Testing

/// The per-user status counts kept by triggers agree with the jobs table.
@Suite struct StatusCountTests {
    @Test func countsFollowInsertsAndStatusChanges() throws {
        let directory = try TemporaryDirectory()
        let store = directory.store()
        try store.migrate()
        let users = ["u1", "u2", "u3"]
        var jobs: [TrainingJob] = []
        var generator = SystemRandomNumberGenerator()
        for index in 0..<300 {
            jobs.append(
                TrainingJob(
                    id: UUID().uuidString.lowercased(), userID: users[index % 3], modelName: "m",
                    status: JobStatus.allCases.randomElement(using: &generator)!, createdAt: .now()
                ))
        }
        try store.trainingJobs.insert(jobs)
        // Move some jobs through legal transitions, and leave others alone.
        for index in stride(from: 0, to: 300, by: 7) {
            let job = jobs[index]
            _ = try store.trainingJobs.update(id: job.id, userID: job.userID) { job in
                if job.status.canTransition(to: .cancelled) { job.status = .cancelled }
            }
            jobs[index].status = job.status.canTransition(to: .cancelled) ? .cancelled : job.status
        }
        for user in users {
            var expected: [JobStatus: Int] = [:]
            for job in jobs where job.userID == user { expected[job.status, default: 0] += 1 }
            #expect(try store.trainingJobs.statusCounts(userID: user).counts == expected)
        }
        #expect(try store.trainingJobs.statusCounts(userID: "nobody").total == 0)
    }
}
