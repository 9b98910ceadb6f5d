import Domain
import JSON

extension TrainingJob {
    /// The job as clients see it: every contract field, never the token's hash;
    /// the token itself only when the job is created.
    func json(token: String? = nil) -> JSONValue {
        var object = JSONObject([
            ("id", .string(id)), ("user_id", .string(userID)), ("model_name", .string(modelName)), ("dataset_id", .string(datasetID)),
            ("status", .string(status.rawValue)), ("config", config), ("progress", .double(progress)), ("current_step", .int(currentStep)),
            ("total_steps", .int(totalSteps)), ("current_epoch", .int(currentEpoch)), ("total_epochs", .int(totalEpochs)),
            ("train_loss", .double(trainLoss)), ("eval_loss", .double(evalLoss)), ("best_eval_loss", .double(bestEvalLoss)),
            ("error_message", .string(errorMessage)), ("resumed_from_job_id", .string(resumedFromJobID)),
            ("created_at", .string(createdAt.iso8601)), ("updated_at", .string(updatedAt.iso8601)),
            ("started_at", .string(startedAt?.iso8601)), ("completed_at", .string(completedAt?.iso8601)),
            ("external_id", .string(externalID)), ("dataset_path", .string(datasetPath)), ("agent_id", .string(agentID)),
            ("claimed_at", .string(claimedAt?.iso8601)), ("attempts", .int(attempts)),
        ])
        if let token { object["job_token"] = .string(token) }
        return .object(object)
    }

    /// The job's hyperparameters as JSON (an empty object if the stored text is not JSON).
    var config: JSONValue {
        (try? JSONValue.parse(Array(configJSON.utf8))) ?? .object(JSONObject())
    }
}
