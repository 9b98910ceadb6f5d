#if canImport(Glibc)
import Glibc
#endif

/// IANA time zone names, checked against the system's zoneinfo database.
enum TimeZoneNames {
    static let directory = "/usr/share/zoneinfo"

    /// Whether `name` is a zone of the zoneinfo database: plain path parts
    /// only (no `..`, no absolute paths), naming a TZif file outside the
    /// `posix/` and `right/` copies.
    static func isValid(_ name: String) -> Bool {
        if name == "UTC" { return true }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), name.utf8.count <= 64 else { return false }
        for part in parts {
            guard let first = part.utf8.first, first != UInt8(ascii: "."), first != UInt8(ascii: "-"),
                part.utf8.allSatisfy({ isNameByte($0) })
            else { return false }
        }
        guard parts[0] != "posix", parts[0] != "right" else { return false }
        return isZoneFile(directory + "/" + name)
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."):
            true
        default:
            false
        }
    }

    /// A regular file that starts with the TZif magic (not zone.tab, tzdata.zi, a directory…).
    private static func isZoneFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return false }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        let count = magic.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4) }
        return count == 4 && magic == Array("TZif".utf8)
    }
}
