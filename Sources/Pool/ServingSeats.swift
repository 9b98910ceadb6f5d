import Essentials
import Synchronization

/// How many of a worker's threads serve at once: a few seats, as many as keep the cores busy, and more
/// threads parked behind them for requests that wait.
///
/// A thread holds a seat while it waits for the next ready connection or serves a request. One about to
/// wait on something slow (a body arriving, another server) leaves its seat for that time
/// (`RequestClock.waiting`, through the thread's `SeatedWaits`), and a parked thread takes it, so the worker keeps serving. Since only seated
/// threads wait for connections, a request that arrives while they are all busy is taken by the first one
/// to finish, without waking another thread: that sleep and wake-up per request is what a thread per
/// connection pays.
///
/// A wait nobody announced (a lock held by another process, a slow client's body read in one go) would
/// keep its seat; the worker's supervisor then lends one more seat for as long as that request lasts
/// (`lend`, `reclaim`), so such a request costs a thread, never the worker.
final class ServingSeats: @unchecked Sendable {
    // @unchecked: `parked` and `closed` are reached only with `lock` held; `seated` and `capacity`, atomic, change
    // only with it held too, and are read without it only where a stale value costs a check, not a seat.
    /// Seats: threads that run at once, waits aside.
    let seats: Int
    private let lock = Lock()
    /// Threads holding a seat.
    private let seated = Atomic<Int>(0)
    /// Seats now: `seats` and those lent.
    private let capacity: Atomic<Int>
    private var parked = 0
    private var closed = false
    /// Seated threads waiting for a ready connection: while one is, a thread leaving its seat for a wait
    /// wakes no parked thread, since the idle one takes what comes next.
    private let idle = Atomic<Int>(0)

    init(seats: Int) {
        self.seats = max(1, seats)
        capacity = Atomic(self.seats)
    }

    /// With `lock` held: adds `change` to `counter`.
    private func add(_ change: Int, to counter: borrowing Atomic<Int>) {
        counter.wrappingAdd(change, ordering: .sequentiallyConsistent)
    }

    private var hasFreeSeat: Bool {
        seated.load(ordering: .sequentiallyConsistent) < capacity.load(ordering: .sequentiallyConsistent)
    }

    /// Takes a seat, parked until one is free. False once `close()` was called.
    func take() -> Bool {
        lock.withLock {
            while !hasFreeSeat && !closed {
                parked += 1
                // Timed, so that a wake-up lost to a race costs a second, not the seat.
                _ = lock.wait(untilMonotonicSeconds: Clocks.monotonicSeconds() + 1)
                parked -= 1
            }
            guard !closed else { return false }
            add(1, to: seated)
            return true
        }
    }

    /// Whether more threads hold a seat than there are seats (one came back from a wait while another had
    /// taken its seat): checked between requests, where the thread then gives its seat up (`give`).
    var isOverbooked: Bool { seated.load(ordering: .relaxed) > capacity.load(ordering: .relaxed) }

    /// Gives the calling thread's seat up, to a parked thread if one waits and no seated one is idle.
    func give() {
        lock.withLock {
            add(-1, to: seated)
            if hasFreeSeat && parked > 0 && idle.load(ordering: .sequentiallyConsistent) == 0 { lock.signal() }
        }
    }

    /// Takes the seat back after a wait, even over the number of seats: the thread is in the middle of a
    /// request and finishes it first.
    func retake() {
        lock.withLock { add(1, to: seated) }
    }

    /// Called by a seated thread before it waits for a ready connection.
    @inline(__always)
    func willWaitForWork() {
        idle.wrappingAdd(1, ordering: .sequentiallyConsistent)
    }

    /// Called by a seated thread that got a ready connection: if it was the last idle one while a seat is
    /// free, a parked thread takes the free seat.
    @inline(__always)
    func gotWork() {
        let left = idle.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
        if left == 0 && hasFreeSeat { wakeForFreeSeat() }
    }

    private func wakeForFreeSeat() {
        lock.withLock {
            if hasFreeSeat && parked > 0 { lock.signal() }
        }
    }

    /// One more seat, for as long as a request that keeps its seat through a long wait lasts; a parked thread takes it.
    func lend() {
        lock.withLock {
            add(1, to: capacity)
            if hasFreeSeat && parked > 0 { lock.signal() }
        }
    }

    /// Takes a lent seat back: the thread that now holds one too many parks after its request.
    func reclaim() {
        lock.withLock { add(-1, to: capacity) }
    }

    /// Ends parking: every parked thread and every later `take` returns false.
    func close() {
        lock.withLock {
            closed = true
            lock.broadcast()
        }
    }
}
