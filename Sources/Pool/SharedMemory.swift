import Essentials

#if canImport(Glibc)
import Glibc
#endif

/// A block of memory shared by the master and every worker process.
///
/// The master creates it (an unlinked file on tmpfs) before starting workers;
/// each worker inherits the fd and maps it. Whoever uses it must synchronise
/// with process-shared primitives.
public final class SharedMemory: @unchecked Sendable {
    // @unchecked: the mapping is fixed for the object's life; what lives
    // inside it is synchronised by its users (process-shared mutexes).
    public let base: UnsafeMutableRawPointer
    public let size: Int
    /// The fd backing the mapping, or -1 for a process-private anonymous mapping.
    public let fd: Int32

    private init(base: UnsafeMutableRawPointer, size: Int, fd: Int32) {
        self.base = base
        self.size = size
        self.fd = fd
    }

    /// Creates a new zeroed region backed by an unlinked tmpfs file, to be
    /// passed to worker processes.
    public static func create(size: Int) throws -> SharedMemory {
        let directory = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        var template = Array("\(directory)/ftapi-shared-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SystemError("mkostemp(\(directory))", errno: errno) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        guard ftruncate(fd, off_t(size)) == 0 else {
            let error = errno
            close(fd)
            throw SystemError("ftruncate(shared memory)", errno: error)
        }
        return try map(fd: fd, size: size)
    }

    /// Maps a region whose fd was inherited from the master.
    public static func map(fd: Int32, size: Int) throws -> SharedMemory {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError("fstat(shared memory fd \(fd))", errno: errno) }
        guard Int(info.st_size) >= size else { throw SystemError("shared memory fd \(fd) is smaller than \(size) bytes", errno: EINVAL) }
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw SystemError("mmap(shared memory)", errno: errno)
        }
        return SharedMemory(base: base, size: size, fd: fd)
    }

    /// A region for one process only (tests, single-process tools).
    public static func anonymous(size: Int) throws -> SharedMemory {
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED else {
            throw SystemError("mmap(anonymous)", errno: errno)
        }
        return SharedMemory(base: base, size: size, fd: -1)
    }

    deinit {
        munmap(base, size)
    }
}
