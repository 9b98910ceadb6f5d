import Essentials

#if canImport(Glibc)
import Glibc
#endif

/// Creates listening sockets without libfcgi's `FCGX_OpenSocket` (IPv4 only,
/// unlinks a socket in use, exits on error).
public enum Listener {
    /// Opens (or adopts) the listening socket and returns its fd.
    public static func open(_ address: ListenAddress, permissions: SocketPermissions, backlog: Int32) throws -> Int32 {
        switch address {
        case .inherited(let fd):
            var type: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            try retryingOnInterrupt("getsockopt(SO_TYPE) on fd \(fd)") { getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) }
            guard type == Int32(SOCK_STREAM.rawValue) else { throw SystemError("fd \(fd) is not a stream socket", errno: ENOTSOCK) }
            return fd
        case .unix(let path):
            return try openUnix(path: path, permissions: permissions, backlog: backlog)
        case .tcp(let host, let port):
            return try openTCP(host: host, port: port, backlog: backlog)
        }
    }

    private static func openUnix(path: String, permissions: SocketPermissions, backlog: Int32) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw SystemError("unix socket path too long: \(path)", errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        if isLiveUnixSocket(address) {
            throw SystemError("another server is listening on \(path)", errno: EADDRINUSE)
        }
        unlink(path)  // a stale socket file left by a crashed pool

        let fd = try retryingOnInterrupt("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            // Create the socket file with the final mode, never briefly wider.
            let oldMask = umask(mode_t(~permissions.mode & 0o777))
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            umask(oldMask)
            if bound != 0 { throw SystemError("bind(\(path))", errno: errno) }
            if chmod(path, mode_t(permissions.mode)) != 0 { throw SystemError("chmod(\(path))", errno: errno) }
            if let owner = permissions.owner { try changeOwner(path: path, spec: owner) }
            try retryingOnInterrupt("listen(\(path))") { listen(fd, backlog) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    private static func isLiveUnixSocket(_ address: sockaddr_un) -> Bool {
        var address = address
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { close(probe) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0
    }

    private static func changeOwner(path: String, spec: String) throws {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        var uid = uid_t.max  // (uid_t)-1: leave unchanged
        var gid = gid_t.max
        if let user = parts.first, !user.isEmpty {
            if let numeric = uid_t(user) {
                uid = numeric
            } else {
                guard let entry = getpwnam(user) else { throw SystemError("unknown user \(user)", errno: EINVAL) }
                uid = entry.pointee.pw_uid
            }
        }
        if parts.count > 1, !parts[1].isEmpty {
            if let numeric = gid_t(parts[1]) {
                gid = numeric
            } else {
                guard let entry = getgrnam(parts[1]) else { throw SystemError("unknown group \(parts[1])", errno: EINVAL) }
                gid = entry.pointee.gr_gid
            }
        }
        if chown(path, uid, gid) != 0 { throw SystemError("chown(\(path), \(spec))", errno: errno) }
    }

    private static func openTCP(host: String, port: UInt16, backlog: Int32) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            throw SystemError("getaddrinfo(\(host)): \(String(cString: gai_strerror(status)))", errno: EINVAL)
        }
        defer { freeaddrinfo(results) }
        let info = first.pointee
        let fd = try retryingOnInterrupt("socket(TCP)") { socket(info.ai_family, info.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.ai_protocol) }
        do {
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.ai_addr, info.ai_addrlen) != 0 { throw SystemError("bind(\(host):\(port))", errno: errno) }
            try retryingOnInterrupt("listen(\(host):\(port))") { listen(fd, backlog) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// systemd socket activation: the first passed fd (3) when `LISTEN_PID` is us.
    public static func systemdActivatedFD() -> Int32? {
        guard let pid = getenv("LISTEN_PID").map({ String(cString: $0) }), pid_t(pid) == getpid(),
            let count = getenv("LISTEN_FDS").map({ String(cString: $0) }), let n = Int(count), n >= 1
        else { return nil }
        return 3
    }
}
