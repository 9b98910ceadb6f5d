#if canImport(Glibc)
import Glibc
#endif

/// Signal sets for the master's and the workers' `sigtimedwait` loops.
enum Signals {
    /// A set holding `signals`.
    static func set(_ signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }
}
