import Essentials

#if canImport(Glibc)
import Glibc
#endif

/// Reads settings from the environment, so that every flag also has a
/// variable (flags win when both are given).
enum Environment {
    static func string(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    static func int(_ name: String) -> Int? { string(name).flatMap { Int($0) } }
    static func double(_ name: String) -> Double? { string(name).flatMap { Double($0) } }

    static func bool(_ name: String) -> Bool? {
        switch string(name)?.lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        default: nil
        }
    }

    /// Reads `FTAPI_CONFIG`, a `KEY=VALUE` file (blank lines and `#` comments skipped, values optionally
    /// quoted), into the environment, where its values win: the master reads it at start and again at each
    /// reload (SIGHUP re-executes it), so an edited file takes effect then. A file that can't be read is
    /// reported and skipped, so a bad edit can't take a reloading master down.
    static func loadConfigFile() {
        guard let path = string("FTAPI_CONFIG") else { return }
        guard let file = fopen(path, "r") else {
            warn("cannot read FTAPI_CONFIG \(path): \(String(cString: strerror(errno))); using the environment only")
            return
        }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var number = 0
        while getline(&line, &capacity, file) > 0, let line {
            number += 1
            let text = String(cString: line).trimmingWhitespace()
            guard !text.isEmpty, !text.hasPrefix("#") else { continue }
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                warn("\(path):\(number): not KEY=VALUE; skipped")
                continue
            }
            let key = String(text[..<equals]).trimmingWhitespace()
            var value = String(text[text.index(after: equals)...]).trimmingWhitespace()
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            setenv(key, value, 1)
        }
    }

    /// Before logging is set up: a plain line on stderr.
    private static func warn(_ message: String) {
        let line = Array("ftapi: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}
