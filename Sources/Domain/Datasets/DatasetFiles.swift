import Essentials

#if canImport(Glibc)
import Glibc
#endif

/// Where stored datasets' files live: `<data directory>/datasets/<id>.jsonl`,
/// written first as `datasets/.partial/<host>@<pid>-<id>.part` and renamed into
/// place only once complete and on disk. A file that lost its writer (a
/// crash, a kill) or its record is removed by `sweep`.
///
/// Several hosts may share the data directory (one mount): a host's sweeps
/// judge its own partial files by their writer's pid, and take another
/// host's partial file, or a stored file without a record (which may be
/// another host's upload between its rename and its commit), for abandoned
/// only once nothing wrote to it for `abandonedAfterSeconds`.
public struct DatasetFiles: Sendable {
    /// The data directory the records' `file_path`s are relative to.
    public let dataDirectory: String
    /// This host's name in its partial files' names (`FTAPI_HOST_ID`, else the host name): unique among the hosts sharing the directory.
    public let host: String

    /// How long a file that may be another host's upload in progress must have gone unwritten before a sweep removes it.
    /// An upload writes as its body arrives (nginx waits at most client_body_timeout, 60 s, between reads), then fsyncs,
    /// renames and commits its record: an hour is far past all of it, and past any clock skew between hosts and the mount.
    public static let abandonedAfterSeconds = 3600

    /// - Parameter host: this host's name in partial file names; characters other than letters, digits, `.`, `_` and `-` become `_`.
    public init(dataDirectory: String, host: String = DatasetFiles.hostName()) {
        self.dataDirectory = dataDirectory
        let cleaned = String(host.prefix(64).map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
        self.host = cleaned.isEmpty ? "localhost" : cleaned
    }

    /// The machine's host name (`gethostname`).
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private var directory: String { dataDirectory + "/datasets" }
    private var partialDirectory: String { directory + "/.partial" }

    /// The record's `file_path` for dataset `id`.
    public func relativePath(forID id: String) -> String { "datasets/\(id).jsonl" }

    /// Creates the directories if needed. nginx sends stored files itself,
    /// as a member of their group: `datasets` lets the group pass (0710),
    /// `.partial` is the pool's alone (0700). Modes are set whatever the umask.
    public func prepare() throws(StoreError) {
        for (path, mode) in [(dataDirectory, 0o750), (directory, 0o710), (partialDirectory, 0o700)] as [(String, mode_t)] {
            if mkdir(path, mode) == 0 {
                // Keep the setgid bit a directory inherits: it gives what is created inside to the data directory's group.
                var made = stat()
                let inherited = stat(path, &made) == 0 ? made.st_mode & S_ISGID : 0
                chmod(path, mode | inherited)
            } else if errno != EEXIST {
                throw Self.failure("mkdir \(path)")
            }
        }
    }

    /// Opens a new partial file for dataset `id`.
    public func createPartial(id: String) throws(StoreError) -> PartialDatasetFile {
        let path = "\(partialDirectory)/\(host)@\(getpid())-\(id).part"
        var fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        if fd < 0 && errno == ENOENT {
            try prepare()
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        }
        guard fd >= 0 else { throw Self.failure("open \(path)") }
        // Readable by the group (nginx) once renamed into place, whatever the umask.
        fchmod(fd, 0o640)
        return PartialDatasetFile(fd: fd, path: path, directory: directory, dataDirectory: dataDirectory)
    }

    /// Removes a stored file; a missing one is not an error.
    public func remove(relativePath: String) {
        unlink("\(dataDirectory)/\(relativePath)")
    }

    /// Removes this host's partial files whose writing process is gone (all
    /// of them with `everyPartial`, at start-up when no worker of this host
    /// runs), and other hosts' partial files that nothing wrote to for
    /// `abandonedAfterSeconds`. With `recorded`, also stored files that no
    /// record names (a crash between the rename and the commit) and that
    /// nothing wrote to for as long: younger ones may be another host's
    /// upload about to commit. `now` (seconds since the epoch) is the clock's. Returns how many files went.
    @discardableResult
    public func sweep(everyPartial: Bool, recorded: Set<String>?, now: Int? = nil) -> Int {
        var removed = 0
        let abandonedBefore = (now ?? time(nil)) - Self.abandonedAfterSeconds
        for name in Self.entries(of: partialDirectory) where name.hasSuffix(".part") {
            let path = "\(partialDirectory)/\(name)"
            let remove: Bool
            if let writer = ownWriter(ofPartial: name) {
                remove = everyPartial || (kill(writer, 0) != 0 && errno == ESRCH)
            } else {
                // Another host's (or an older version's, named without a host): its pids mean nothing here.
                remove = Self.modified(path).map { $0 < abandonedBefore } ?? false
            }
            if remove, unlink(path) == 0 { removed += 1 }
        }
        if let recorded {
            for name in Self.entries(of: directory) where name.hasSuffix(".jsonl") && !recorded.contains("datasets/\(name)") {
                let path = "\(directory)/\(name)"
                if Self.modified(path).map({ $0 < abandonedBefore }) ?? false, unlink(path) == 0 { removed += 1 }
            }
        }
        return removed
    }

    /// The pid in `<host>@<pid>-<id>.part` when `<host>` is this host.
    private func ownWriter(ofPartial name: String) -> pid_t? {
        guard let at = name.lastIndex(of: "@"), name[..<at] == host else { return nil }
        return name[name.index(after: at)...].split(separator: "-", maxSplits: 1).first.flatMap { pid_t($0) }
    }

    /// When the file was last written, in seconds since the epoch; nil when it is gone.
    private static func modified(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_mtim.tv_sec)
    }

    private static func entries(of path: String) -> [String] {
        guard let handle = opendir(path) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func failure(_ call: String) -> StoreError {
        .unavailable("\(call): \(String(cString: strerror(errno)))")
    }
}

/// A dataset file being written. Either `commit` (on disk, then renamed into
/// place) or `discard` (removed) ends it; dropping it unended discards it.
public final class PartialDatasetFile {
    private var fd: Int32
    private let path: String
    private let directory: String
    private let dataDirectory: String
    /// Bytes written so far.
    public private(set) var size: Int64 = 0

    init(fd: Int32, path: String, directory: String, dataDirectory: String) {
        self.fd = fd
        self.path = path
        self.directory = directory
        self.dataDirectory = dataDirectory
    }

    deinit { discard() }

    /// Appends `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        var offset = 0
        while offset < bytes.count {
            guard let written = try? retryingOnInterrupt("write", { Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset) }) else {
                throw DatasetFiles.failure("write \(path)")
            }
            offset += written
        }
        size += Int64(bytes.count)
    }

    /// Flushes the file to disk, renames it to `relativePath` under the data
    /// directory, and flushes the directory so the rename survives a crash.
    public func commit(to relativePath: String) throws(StoreError) {
        guard fsync(fd) == 0 else { throw DatasetFiles.failure("fsync \(path)") }
        close(fd)
        fd = -1
        guard rename(path, "\(dataDirectory)/\(relativePath)") == 0 else {
            let error = DatasetFiles.failure("rename \(path)")
            unlink(path)
            throw error
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// Closes and removes the partial file (nothing if already committed).
    public func discard() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(path)
    }
}
