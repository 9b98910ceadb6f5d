extension Int64 {
    /// `self + other`, held at `Int64.max` (or `.min`) instead of trapping: sums of stored counters
    /// (steps over all of a user's jobs) must never turn a read into a crash.
    package func addingSaturated(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }
}
