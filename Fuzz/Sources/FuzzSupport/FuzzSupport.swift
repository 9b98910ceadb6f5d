// What every fuzz target shares: libFuzzer's driver, the check that turns a
// broken property into a finding, and cutting an input into chunks.
import CLibFuzzer

#if canImport(Glibc)
import Glibc
#endif

/// The target's property check, called by libFuzzer for each input.
nonisolated(unsafe) private var oneInput: (([UInt8]) -> Void)?

/// libFuzzer's callback; also what its own (unused) main refers to, so it must exist.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    oneInput?(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// Runs libFuzzer with the command line's options (`-max_total_time=60 corpus/`, a crash file to reproduce, ...),
/// checking each input with `body`; a crash or a failed `require` is a finding.
public func fuzz(_ body: @escaping ([UInt8]) -> Void) -> Never {
    oneInput = body
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzerTestOneInput(data, size) })
}

/// A property of the unit under test: if it does not hold, the input is a finding (the process aborts, libFuzzer saves the input).
public func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    guard !condition else { return }
    let text = "fuzz property failed at \(file):\(line): \(message())\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    abort()
}

/// Cuts `count` bytes into consecutive ranges of 1...maxChunk bytes, chosen by `seed`,
/// to feed a streaming parser the same bytes in other pieces than one.
public func chunkRanges(count: Int, seed: UInt64, maxChunk: Int = 64) -> [Range<Int>] {
    var state = seed
    var ranges: [Range<Int>] = []
    var start = 0
    while start < count {
        // splitmix64
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 31
        let length = min(count - start, 1 + Int(mixed % UInt64(maxChunk)))
        ranges.append(start..<(start + length))
        start += length
    }
    return ranges
}

/// The bytes of `bytes` split at each `separator` (empty pieces kept).
public func pieces(_ bytes: ArraySlice<UInt8>, separator: UInt8) -> [ArraySlice<UInt8>] {
    bytes.split(separator: separator, omittingEmptySubsequences: false)
}
