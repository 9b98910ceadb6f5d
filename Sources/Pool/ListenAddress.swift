#if canImport(Glibc)
import Glibc
#endif

/// Where the pool listens for nginx.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// A unix socket the master creates (replacing a stale file, refusing a live one).
    case unix(path: String)
    /// TCP on a host (IPv4 or IPv6 literal, or `localhost`) and port.
    case tcp(host: String, port: UInt16)
    /// An already listening socket, e.g. from systemd socket activation.
    case inherited(fd: Int32)

    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .inherited(let fd): "fd:\(fd)"
        }
    }

    /// Whether the master can open it itself (a unix path or TCP), as opposed to an inherited fd.
    public var isListenable: Bool {
        if case .inherited = self { return false }
        return true
    }

    /// Parses `unix:/path`, `/path`, `host:port`, `[v6]:port` or `fd:N`.
    public init?(parsing text: String) {
        if text.hasPrefix("unix:") {
            self = .unix(path: String(text.dropFirst(5)))
        } else if text.hasPrefix("/") {
            self = .unix(path: text)
        } else if text.hasPrefix("fd:"), let fd = Int32(text.dropFirst(3)), fd >= 0 {
            self = .inherited(fd: fd)
        } else if let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) {
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self = .tcp(host: host, port: port)
        } else {
            return nil
        }
    }
}

/// Ownership and permissions of a unix listening socket.
public struct SocketPermissions: Sendable {
    /// File mode, default 0660: nginx must be in the socket's group.
    public var mode: UInt32
    /// `user`, `user:group` or `:group`; nil keeps the process's own.
    public var owner: String?

    public init(mode: UInt32 = 0o660, owner: String? = nil) {
        self.mode = mode
        self.owner = owner
    }
}
