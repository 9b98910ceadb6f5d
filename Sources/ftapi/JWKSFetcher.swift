import API
import HTTPClient

/// Fetches `JWT_JWKS` when it is a URL.
struct JWKSHTTPFetcher: JWKSFetching {
    let client = HTTPFetcher(timeoutSeconds: 5, maxResponseBytes: 1 << 20)

    func fetch(url: String) throws -> [UInt8] {
        let response = try client.get(url, headers: ["Accept: application/json"])
        guard response.status == 200 else { throw HTTPFetchError.status(response.status) }
        return response.body
    }
}
