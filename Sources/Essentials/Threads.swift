#if canImport(Glibc)
public import Glibc
#endif

private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// POSIX threads: the accept threads and the long-running helpers (flushers, refreshers).
public enum Threads {
    /// Starts a joinable thread running `body`.
    public static func start(stackSize: Int = 512 * 1024, _ body: @escaping @Sendable () -> Void) throws -> pthread_t {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attributes,
            { raw in
                let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
                body.run()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(context).release()
            throw SystemError("pthread_create", errno: rc)
        }
        return thread
    }

    /// Starts a detached thread running `body` (it lives as long as the process).
    public static func detach(_ body: @escaping @Sendable () -> Void) throws {
        pthread_detach(try start(body))
    }

    /// Starts a detached thread that runs `body` every `seconds`, first after one interval.
    public static func repeating(every seconds: Double, _ body: @escaping @Sendable () -> Void) throws {
        try detach {
            while true {
                Clocks.sleep(seconds: seconds)
                body()
            }
        }
    }
}
