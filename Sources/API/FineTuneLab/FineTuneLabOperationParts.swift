import JSON

/// What the OpenAPI operations of FineTune Lab's routes share.
extension OpenAPIOperation {
    static let fineTuneLabTag = "finetune-lab"
    /// The name the routes answer with: the job's external id, or its id.
    static let jobNameProperty = ("job_id", Schema.string)
    static let successProperty = ("success", JSONValue.object(["type": .string("boolean"), "const": .bool(true)]))
}
