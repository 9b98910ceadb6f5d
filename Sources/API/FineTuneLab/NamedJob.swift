import Domain
import Essentials
import JSON

/// Finds the job a FineTune Lab route names, by its `{job}` path segment or a body's `job_id`:
/// the job's `id` (uuid) or its `external_id`.
struct NamedJob {
    let jobs: any TrainingJobStore

    /// The job `name` names for `caller`. A job token reaches only its own job: any other name is
    /// a 401, whether or not such a job exists. With a key or a session, a name that is none of the
    /// user's jobs (another user's included) is a 404.
    func find(_ name: String, for caller: Principal) throws -> TrainingJob {
        if case .jobToken(let jobID, _) = caller.credential {
            guard let job = try jobs.find(id: jobID, userID: caller.userID), Self.names(job, name) else { throw APIError.unauthorized }
            return job
        }
        if let id = canonicalUUID(name), let job = try jobs.find(id: id, userID: caller.userID) { return job }
        guard ExternalJobID.isValid(name), let job = try jobs.find(externalID: name, userID: caller.userID) else { throw APIError.notFound }
        return job
    }

    /// The job the body's `job_id` names (required, a string).
    func find(in body: JSONObject, for caller: Principal) throws -> TrainingJob {
        switch body["job_id"] {
        case .string(let name)?:
            return try find(name, for: caller)
        case nil, .null?:
            throw APIError.badRequest("job_id is required")
        case let other?:
            throw APIError.badRequest("job_id must be a string, not \(other.typeName)")
        }
    }

    /// Refuses a trainer's write (by the job's token) to a cancelled job: the cancel is the user's order to stop, and
    /// its holder learns of it so. Logs and predictions of a job that completed or failed are still taken.
    static func refuseTrainerWriteAfterCancel(_ job: TrainingJob, caller: Principal) throws(APIError) {
        guard caller.jobTokenHash != nil, job.status == .cancelled else { return }
        throw APIError(.conflict, "The job is cancelled and takes no more writes", details: "current status: cancelled", code: "JOB_TERMINAL")
    }

    /// Whether `name` is `job`'s id (any case) or its external id.
    static func names(_ job: TrainingJob, _ name: String) -> Bool {
        canonicalUUID(name) == job.id || job.externalID == name
    }

    /// The name these routes answer with: the external id when the job has one, else its id.
    static func publicName(of job: TrainingJob) -> String {
        job.externalID ?? job.id
    }

    /// Refuses a body `user_id` that is not the caller: no route takes a user from the body in place of a credential.
    static func refuseForeignUser(in body: JSONObject, caller: Principal, field: String = "user_id") throws(APIError) {
        switch body["user_id"] {
        case nil, .null?:
            return
        case .string(let userID)? where userID == caller.userID:
            return
        default:
            throw APIError(.unauthorized, "Unauthorized", details: "\(field) does not name the authenticated user")
        }
    }
}
