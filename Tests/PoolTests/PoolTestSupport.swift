import Essentials
import Foundation
import Pool

/// A call that may block, run on a thread of its own: the test asks whether (and when) it returned.
final class Background<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `outcome` is only reached under its lock.
    private let outcome = Locked<(value: Value, at: Double)?>(nil)
    private let returned = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> Value) {
        Thread { [outcome, returned] in
            let value = body()
            outcome.withLock { $0 = (value, Clocks.monotonicSeconds()) }
            returned.signal()
        }.start()
    }

    /// The value, once returned; nil while the call still blocks.
    var value: Value? { outcome.withLock { $0?.value } }
    /// When it returned (`Clocks.monotonicSeconds()`).
    var returnedAt: Double? { outcome.withLock { $0?.at } }

    /// Waits up to `seconds` for the call to return; its value, or nil if it still blocks.
    func wait(seconds: Double) -> Value? {
        if let value { return value }
        _ = returned.wait(timeout: .now() + seconds)
        return value
    }
}

/// Polls `condition` every millisecond for up to `seconds`; whether it became true.
func eventually(within seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Clocks.monotonicSeconds() + seconds
    while !condition() {
        if Clocks.monotonicSeconds() > deadline { return false }
        Clocks.sleep(seconds: 0.001)
    }
    return true
}

/// A scoreboard in a region of this process: the master's and the workers' view at once.
func makeScoreboard() throws -> Scoreboard {
    let region = try SharedMemory.anonymous(size: Scoreboard.regionSize)
    Scoreboard.initialize(region, masterPID: getpid())
    return Scoreboard(region: region)
}

/// A new directory under the temporary directory, for a listening socket.
func makeTemporaryDirectory() throws -> String {
    var template = Array((NSTemporaryDirectory() + "/ftapi-pool-XXXXXX").utf8CString)
    guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw CocoaError(.fileWriteUnknown) }
    return String(cString: path)
}
