import Crypto
import CryptoExtras
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where session-token public keys come from.
public enum JWKSSource: Sendable, Equatable {
    case file(String)
    case url(String)

    /// `https://...` (or `http://` for loopback tests) is a URL; anything else a file path.
    public init(_ text: String) {
        self = text.hasPrefix("https://") || text.hasPrefix("http://") ? .url(text) : .file(text)
    }
}

/// A public key from a JWKS document.
struct JSONWebKey: @unchecked Sendable {
    // @unchecked: the CryptoKit key types are immutable values without a
    // Sendable annotation in this version.
    enum Material {
        case p256(P256.Signing.PublicKey)
        case rsa(_RSA.Signing.PublicKey)
    }

    let id: String?
    let material: Material

    var algorithm: String {
        switch material {
        case .p256: "ES256"
        case .rsa: "RS256"
        }
    }

    /// Reads every usable signing key of a JWKS document; others are skipped.
    static func parseSet(_ bytes: [UInt8]) throws -> [JSONWebKey] {
        guard case .object(let document) = try JSONValue.parse(bytes), case .array(let entries)? = document["keys"] else {
            throw JWKSError.invalidDocument
        }
        return entries.compactMap { entry -> JSONWebKey? in
            guard case .object(let key) = entry, case .string(let type)? = key["kty"] else { return nil }
            if case .string(let use)? = key["use"], use != "sig" { return nil }
            var id: String?
            if case .string(let kid)? = key["kid"] { id = kid }
            var declaredAlgorithm: String?
            if case .string(let alg)? = key["alg"] { declaredAlgorithm = alg }
            switch type {
            case "EC":
                guard case .string("P-256")? = key["crv"], case .string(let x)? = key["x"], case .string(let y)? = key["y"],
                    let xBytes = Base64URL.decode(x), let yBytes = Base64URL.decode(y), xBytes.count == 32, yBytes.count == 32,
                    declaredAlgorithm == nil || declaredAlgorithm == "ES256",
                    let publicKey = try? P256.Signing.PublicKey(rawRepresentation: xBytes + yBytes)
                else { return nil }
                return JSONWebKey(id: id, material: .p256(publicKey))
            case "RSA":
                guard case .string(let n)? = key["n"], case .string(let e)? = key["e"], let modulus = Base64URL.decode(n),
                    let exponent = Base64URL.decode(e), declaredAlgorithm == nil || declaredAlgorithm == "RS256",
                    let publicKey = try? _RSA.Signing.PublicKey(n: modulus, e: exponent)
                else { return nil }
                return JSONWebKey(id: id, material: .rsa(publicKey))
            default:
                return nil
            }
        }
    }
}

enum JWKSError: Error {
    case invalidDocument
    case unreadable(String)
}

/// Fetches a JWKS document over HTTP(S).
public protocol JWKSFetching: Sendable {
    func fetch(url: String) throws -> [UInt8]
}

/// The configured JWKS, loaded at start and loaded again when a token names a
/// key id it does not know (at most once per `refreshInterval`).
final class JSONWebKeySet: Sendable {
    private let source: JWKSSource
    private let fetcher: (any JWKSFetching)?
    private let refreshInterval: Double
    private let state = Mutex<(keys: [JSONWebKey], loadedAt: Double?)>(([], nil))

    init(source: JWKSSource, fetcher: (any JWKSFetching)?, refreshInterval: Double = 30) {
        self.source = source
        self.fetcher = fetcher
        self.refreshInterval = refreshInterval
    }

    /// The key for a token header's `kid` and `alg`; reloads once on an unknown kid.
    func key(id: String?, algorithm: String, now: Double) -> JSONWebKey? {
        if let key = select(id: id, algorithm: algorithm, from: state.withLock { $0.keys }) { return key }
        let due = state.withLock { current in current.loadedAt.map { now - $0 >= refreshInterval } ?? true }
        guard due else { return nil }
        let keys = (try? load()) ?? nil
        state.withLock { current in
            if let keys { current.keys = keys }
            current.loadedAt = now
        }
        return select(id: id, algorithm: algorithm, from: keys ?? [])
    }

    /// Loads the keys now (at start-up, to fail early on a bad configuration).
    func preload(now: Double) throws {
        let keys = try load()
        state.withLock { $0 = (keys, now) }
    }

    private func select(id: String?, algorithm: String, from keys: [JSONWebKey]) -> JSONWebKey? {
        let candidates = keys.filter { $0.algorithm == algorithm }
        if let id { return candidates.first { $0.id == id } }
        return candidates.count == 1 ? candidates[0] : nil
    }

    private func load() throws -> [JSONWebKey] {
        switch source {
        case .file(let path):
            return try JSONWebKey.parseSet(readFile(path))
        case .url(let url):
            guard let fetcher else { throw JWKSError.unreadable("no HTTP client configured for \(url)") }
            return try JSONWebKey.parseSet(fetcher.fetch(url: url))
        }
    }
}

/// Reads a whole file (small files: configuration, keys).
func readFile(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else { throw JWKSError.unreadable("\(path): \(String(cString: strerror(errno)))") }
    defer { fclose(file) }
    var contents: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { break }
        contents.append(contentsOf: buffer[0..<count])
    }
    return contents
}
