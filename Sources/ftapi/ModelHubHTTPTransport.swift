import API
import HTTPClient

/// Model search's requests to the Hugging Face Hub, over libcurl.
struct ModelHubHTTPTransport: ModelHubTransport {
    /// Hub answers for 1,000 models stay well below this.
    static let maxResponseBytes = 8 << 20

    func get(url: String, headers: [String], timeoutSeconds: Double) throws(ModelHubTransportError) -> (status: Int, body: [UInt8]) {
        do {
            let response = try HTTPFetcher(timeoutSeconds: timeoutSeconds, maxResponseBytes: Self.maxResponseBytes).get(url, headers: headers)
            return (response.status, response.body)
        } catch .timedOut {
            throw .timedOut
        } catch {
            throw .failed(error.description)
        }
    }
}
