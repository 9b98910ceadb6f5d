#if canImport(Glibc)
public import Glibc
#endif

/// A plain pthread mutex. On Linux, `Synchronization.Mutex` is a
/// priority-inheritance futex that always sleeps in the kernel when
/// contended; the accept threads contend on short critical sections, where
/// glibc's adaptive mutex (brief spinning first) is much cheaper.
public final class Lock: @unchecked Sendable {
    // @unchecked: the mutex itself is the synchronisation.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Signalled by `signal()`; waited on by `wait(untilMonotonicSeconds:)` (on CLOCK_MONOTONIC).
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        condition = .allocate(capacity: 1)
        var conditionAttributes = pthread_condattr_t()
        pthread_condattr_init(&conditionAttributes)
        pthread_condattr_setclock(&conditionAttributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &conditionAttributes)
        pthread_condattr_destroy(&conditionAttributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// With the lock held (inside `withLock`): releases it until `signal()` is called or the monotonic
    /// clock reaches `deadline` (`Clocks.monotonicSeconds()`), then takes it again. False when the deadline passed.
    public func wait(untilMonotonicSeconds deadline: Double) -> Bool {
        var until = timespec(seconds: deadline)
        return pthread_cond_timedwait(condition, mutex, &until) != ETIMEDOUT
    }

    /// Wakes one thread in `wait`; call with the lock held.
    public func signal() {
        pthread_cond_signal(condition)
    }

    /// Wakes every thread in `wait`; call with the lock held.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }

    /// Runs `body` with the mutex held. Inlinable, so the critical section is specialized where it is written.
    @inlinable
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A value that threads share, only reached with its `Lock` held.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only read or written inside `lock.withLock`.
    @usableFromInline let lock = Lock()
    @usableFromInline var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` on the value with the lock held.
    @inlinable
    public func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        try lock.withLock { () throws(E) -> T in try body(&value) }
    }
}
