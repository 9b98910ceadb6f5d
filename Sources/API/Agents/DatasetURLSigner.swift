import Crypto
import Domain
import Essentials

/// Tokens of dataset URLs that machines without credentials download (`GET /api/datasets/download?token=`):
/// `base64url(payload).base64url(HMAC-SHA256(payload))`, the payload naming one dataset of one user and an expiry.
/// The key is made once and kept in the database (`ServerSecretStore`), so every worker of every host signs and
/// checks alike; a token names its dataset by id, so it dies with the dataset's record.
final class DatasetURLSigner: Sendable {
    /// Why a token was refused.
    enum Refusal: Error, Equatable {
        case expired
        case invalid
    }

    private static let secretName = "dataset_url_key"
    private static let version = "d1"
    private let secrets: any ServerSecretStore
    /// Read from the database on first use, then kept for the worker's life.
    private let key = Locked<SymmetricKey?>(nil)

    init(secrets: any ServerSecretStore) {
        self.secrets = secrets
    }

    private func signingKey() throws -> SymmetricKey {
        if let known = key.withLock({ $0 }) { return known }
        let text = try secrets.secret(named: Self.secretName) { Base64URL.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }) }
        guard let bytes = Base64URL.decode(text), bytes.count >= 32 else { throw StoreError.failed("the stored dataset URL key is malformed") }
        let made = SymmetricKey(data: bytes)
        key.withLock { $0 = made }
        return made
    }

    /// A token for `datasetID` of `userID` that works until `expires` (seconds since the epoch).
    func token(datasetID: String, userID: String, expires: Int64) throws -> String {
        let payload = Array("\(Self.version):\(expires):\(datasetID):\(userID)".utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: payload, using: try signingKey())
        return Base64URL.encode(payload) + "." + Base64URL.encode(Array(mac))
    }

    /// The dataset and user a token names, if it is ours, unchanged and not expired at `now`.
    func verify(_ token: String, now: Double) throws -> Result<(datasetID: String, userID: String), Refusal> {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count <= 1024, let payload = Base64URL.decode(parts[0]), let mac = Base64URL.decode(parts[1]),
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: try signingKey())
        else { return .failure(.invalid) }
        let fields = String(decoding: payload, as: UTF8.self).split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
        guard fields.count == 4, fields[0] == Self.version, let expires = Int64(fields[1]) else { return .failure(.invalid) }
        guard Double(expires) > now else { return .failure(.expired) }
        return .success((String(fields[2]), String(fields[3])))
    }
}
