import Essentials
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

@_silgen_name("swift_demangle")
private func swiftDemangle(
    _ mangledName: UnsafePointer<CChar>, _ length: Int, _ output: UnsafeMutablePointer<CChar>?, _ outputSize: UnsafeMutablePointer<Int>?,
    _ flags: UInt32
) -> UnsafeMutablePointer<CChar>?

// glibc's <execinfo.h> and the GNU part of <dlfcn.h>, which the Glibc module does not bring in.
@_silgen_name("backtrace")
private func backtrace(_ buffer: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ size: Int32) -> Int32

/// `Dl_info`, laid out as glibc declares it.
private struct SymbolInfo {
    var fileName: UnsafePointer<CChar>? = nil
    var fileBase: UnsafeMutableRawPointer? = nil
    var symbolName: UnsafePointer<CChar>? = nil
    var symbolAddress: UnsafeMutableRawPointer? = nil
}

@_silgen_name("dladdr")
private func dladdr(_ address: UnsafeRawPointer?, _ info: UnsafeMutablePointer<SymbolInfo>) -> Int32

/// The call stack of one accept thread, taken on demand from the worker's supervisor: the supervisor
/// signals the thread, whose handler records its return addresses here; the supervisor then turns them
/// into demangled Swift function names. Names come from the executable's dynamic symbol table (it is
/// linked with `--export-dynamic`).
final class StackSample: @unchecked Sendable {
    // @unchecked: `frames` is written only by the sampled thread's signal handler while `count` is -1, and
    // read only by the supervisor after it saw `count` ≥ 0 (acquire/release on `count`).
    fileprivate let frames = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 64)
    fileprivate let count = Atomic<Int>(0)

    deinit { frames.deallocate() }
}

enum StackSampler {
    private static let signalNumber = SIGPROF
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Installs the handler (once per process, before any sample is asked for).
    static func install() {
        var unused = [UnsafeMutableRawPointer?](repeating: nil, count: 4)
        // The first backtrace() loads the unwinder; do it here, not inside a signal handler.
        _ = backtrace(&unused, 4)
        _ = key
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            guard let raw = pthread_getspecific(StackSampler.key) else { return }
            let sample = Unmanaged<StackSample>.fromOpaque(raw).takeUnretainedValue()
            let taken = backtrace(sample.frames, 64)
            sample.count.store(Int(taken), ordering: .releasing)
        }
        sigemptyset(&action.sa_mask)
        // SA_RESTART: the sampled thread's read or write goes on as if nothing happened.
        action.sa_flags = SA_RESTART
        sigaction(signalNumber, &action, nil)
    }

    /// Makes `sample` the calling thread's; it must outlive the thread.
    static func register(_ sample: StackSample) {
        pthread_setspecific(key, Unmanaged.passUnretained(sample).toOpaque())
    }

    /// The stack of `thread` (whose sample is `sample`), innermost first, as `function + offset` lines;
    /// nil when the thread did not answer within 0.2 s.
    static func capture(_ thread: pthread_t, sample: StackSample) -> [String]? {
        sample.count.store(-1, ordering: .releasing)
        guard pthread_kill(thread, signalNumber) == 0 else { return nil }
        let deadline = Clocks.monotonicSeconds() + 0.2
        while sample.count.load(ordering: .acquiring) < 0 {
            guard Clocks.monotonicSeconds() < deadline else { return nil }
            Clocks.sleep(seconds: 0.001)
        }
        let count = sample.count.load(ordering: .acquiring)
        // The first two frames are the handler and the signal trampoline.
        return (min(2, count)..<count).map { symbol(for: sample.frames[$0]) }
    }

    private static func symbol(for address: UnsafeMutableRawPointer?) -> String {
        guard let address else { return "?" }
        var info = SymbolInfo()
        guard dladdr(address, &info) != 0 else { return "\(address)" }
        let image = info.fileName.map { String(cString: $0).split(separator: "/").last.map(String.init) ?? "" } ?? "?"
        guard let name = info.symbolName else { return "\(image) \(address)" }
        let offset = Int(bitPattern: address) - Int(bitPattern: info.symbolAddress)
        let mangled = String(cString: name)
        var demangled = mangled
        if let pointer = swiftDemangle(name, strlen(name), nil, nil, 0) {
            demangled = String(cString: pointer)
            free(pointer)
        }
        return "\(demangled) + \(offset) (\(image))"
    }
}
