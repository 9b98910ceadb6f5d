/// The bound of a job's `current_epoch` and `total_epochs`.
enum TrainingEpoch {
    static let maximum: Int64 = 1_000_000
}
