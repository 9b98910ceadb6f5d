/// The one bound of every step-like integer the API takes (a metric point's `step`, `since_step`,
/// a job's `current_step` and `total_steps`): far beyond any real run, and small enough that sums
/// over a user's jobs stay exact.
enum TrainingStep {
    static let maximum = Int64(Int32.max)
    static let range = 0...maximum
}
