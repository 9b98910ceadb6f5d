import Crypto
import CryptoExtras
import Essentials
import JSON

#if canImport(Glibc)
import Glibc
#endif

/// Where session-token public keys come from.
public enum JWKSSource: Sendable, Equatable {
    case file(String)
    case url(String)

    /// `https://...` is a URL; anything else a file path. Plain `http://` is
    /// accepted only for a loopback host (tests, a local proxy): keys fetched
    /// in the clear could be replaced on the way.
    public init(_ text: String) throws {
        if text.hasPrefix("https://") {
            self = .url(text)
        } else if text.hasPrefix("http://") {
            let host = text.dropFirst("http://".count).prefix { $0 != "/" }
            guard host.hasPrefix("127.0.0.1") || host.hasPrefix("localhost") || host.hasPrefix("[::1]") else {
                throw JWKSError.unreadable("JWT_JWKS must be an https URL (plain http only on loopback): \(text)")
            }
            self = .url(text)
        } else {
            self = .file(text)
        }
    }

    var isURL: Bool {
        if case .url = self { return true }
        return false
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

/// The configured JWKS, loaded at start, loaded again when a token names a
/// key id it does not know (at most once per `refreshInterval`), and at least
/// every `maximumAge` so that keys the issuer removed stop being trusted.
/// One thread loads at a time; the others go on with the keys they have.
final class JSONWebKeySet: Sendable {
    private let source: JWKSSource
    private let fetcher: (any JWKSFetching)?
    private let refreshInterval: Double
    private let maximumAge: Double
    private let state = Locked<(keys: [JSONWebKey], loadedAt: Double?, loading: Bool)>(([], nil, false))

    init(source: JWKSSource, fetcher: (any JWKSFetching)?, refreshInterval: Double = 30, maximumAge: Double = 600) {
        self.source = source
        self.fetcher = fetcher
        self.refreshInterval = refreshInterval
        self.maximumAge = maximumAge
    }

    /// The key for a token header's `kid` and `alg`; reloads on an unknown kid or an old set.
    func key(id: String?, algorithm: String, now: Double) -> JSONWebKey? {
        let (keys, loadedAt) = state.withLock { ($0.keys, $0.loadedAt) }
        let age = loadedAt.map { now - $0 } ?? .infinity
        let known = select(id: id, algorithm: algorithm, from: keys)
        if let known, age < maximumAge { return known }
        guard age >= refreshInterval || (known != nil && age >= maximumAge) else { return known }
        // Claim the load under the lock, so that one thread fetches while the others go on.
        let claimed = state.withLock { current -> Bool in
            guard !current.loading else { return false }
            current.loading = true
            return true
        }
        guard claimed else { return known }
        let loaded = try? load()
        state.withLock { current in
            if let loaded { current.keys = loaded }
            current.loadedAt = now
            current.loading = false
        }
        return select(id: id, algorithm: algorithm, from: loaded ?? keys)
    }

    /// Loads the keys now (at start-up, to report a bad configuration early).
    func preload(now: Double) throws {
        let keys = try load()
        state.withLock { $0 = (keys, now, false) }
    }

    var isRemote: Bool { source.isURL }

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
