import API
import ArgumentParser
import DatasetValidation
import Essentials
import HTTPCore

#if canImport(Glibc)
import Glibc
#endif

/// `ftapi validate-dataset FILE`: runs the dataset validator in-process on a
/// file and prints the report, plus the throughput and peak RSS on stderr
/// (the benchmark's in-process figure).
struct ValidateDatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-dataset",
        abstract: "Validate a JSON Lines (or JSON array) dataset file and report its throughput."
    )

    @Argument(help: "The dataset file.") var file: String
    @Option(help: "chatml, sharegpt, alpaca, dpo, text, or auto.") var format = "auto"
    @Flag(help: "The file is one JSON array rather than JSON Lines.") var array = false
    @Option(help: "Validate the file this many times (the figure is for all passes).") var repeats = 1
    @Option(help: "Bytes read per feed, like the FastCGI body reader.") var chunkBytes = 64 * 1024

    func run() throws {
        let requested: DatasetFormat?
        if format == "auto" {
            requested = nil
        } else {
            guard let known = DatasetFormat(rawValue: format) else { throw ValidationError("unknown format \(format)") }
            requested = known
        }
        let fd = open(file, O_RDONLY)
        guard fd >= 0 else { throw ValidationError("cannot open \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 16)
        defer { buffer.deallocate() }

        var report: DatasetReport?
        var bytes = 0
        let started = Clocks.monotonicSeconds()
        for _ in 0..<max(1, repeats) {
            lseek(fd, 0, SEEK_SET)
            var validator = DatasetValidator(format: requested, layout: array ? .jsonArray : .jsonLines)
            while true {
                let count = read(fd, buffer.baseAddress, buffer.count)
                guard count > 0 else { break }
                validator.feed(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            }
            bytes += validator.byteCount
            report = validator.finish()
        }
        let seconds = Clocks.monotonicSeconds() - started
        print(report!.json.jsonText)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let line = "seconds=\(seconds) bytes=\(bytes) mb_per_s=\(Double(bytes) / 1e6 / seconds) max_rss_kib=\(usage.ru_maxrss)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}
