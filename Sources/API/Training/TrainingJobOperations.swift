import JSON

/// The OpenAPI operations of `TrainingController`'s and `TrainingJobController`'s routes.
extension OpenAPIOperation {
    static let trainingStats = OpenAPIOperation(
        tag: "training", summary: "The caller's jobs counted by status.",
        responses: [(200, "Counts; total_jobs is their sum.", Schema.ref("TrainingStats"))])

    static let listTrainingJobs = OpenAPIOperation(
        tag: "training", summary: "The caller's jobs, newest first.",
        query: pagination + [
            ("status", Schema.enumeration(Schema.statuses), "Only jobs in this status."),
            ("model_name", Schema.string, "Only jobs of this model."),
        ],
        responses: [(200, "A page of jobs.", Schema.list(Schema.ref("TrainingJob")))])

    static let createTrainingJob = OpenAPIOperation(
        tag: "training", summary: "Create a pending job.",
        requestBody: Schema.ref("NewTrainingJob"),
        responses: [(201, "The job, with its job_token (shown this once).", Schema.resource(Schema.ref("TrainingJob")))],
        links: [
            "GET /api/training/jobs/{id:uuid}", "PATCH /api/training/jobs/{id:uuid}", "POST /api/training/jobs/{id:uuid}/cancel",
            "POST /api/training/jobs/{id:uuid}/restart", "POST /api/training/jobs/{id:uuid}/metrics",
            "GET /api/training/jobs/{id:uuid}/metrics", "GET /api/training/jobs/{id:uuid}/dataset",
        ])

    static let showTrainingJob = OpenAPIOperation(
        tag: "training", summary: "One job.",
        responses: [(200, "The job.", Schema.resource(Schema.ref("TrainingJob")))])

    static let updateTrainingJob = OpenAPIOperation(
        tag: "training",
        summary: "Report progress or change status (trainer: the job's token, or a key/session with scope training).",
        requestBody: Schema.ref("TrainingJobUpdate"),
        responses: [
            (200, "The updated job.", Schema.resource(Schema.ref("TrainingJob"))),
            (409, "Illegal status transition (code INVALID_STATUS_TRANSITION).", nil),
        ])

    static let downloadTrainingJobDataset = OpenAPIOperation(
        tag: "training",
        summary:
            "Download the job's dataset (trainer: the job's token, or a key/session with scope training); the same bytes and headers as "
            + "GET /api/datasets/{id}/content.",
        responses: downloadResponses + [
            (404, "Not one of the caller's jobs, or the job has no dataset.", nil),
            (409, "The job's dataset was deleted (code DATASET_DELETED).", nil),
        ], download: true)

    static let cancelTrainingJob = OpenAPIOperation(
        tag: "training", summary: "Cancel a job.",
        responses: [(200, "Cancelled.", Schema.ref("Action")), (409, "The job is already terminal (code INVALID_STATUS_TRANSITION).", nil)])

    static let restartTrainingJob = OpenAPIOperation(
        tag: "training",
        summary: "Start a new pending job like a failed or cancelled one.",
        responses: [
            (201, "The new job (resumed_from_job_id is the old one), with its job_token.", Schema.resource(Schema.ref("TrainingJob"))),
            (409, "The job is neither failed nor cancelled.", nil),
        ])
}
