import Essentials
import HTTPCore
import JSON

/// `GET /api/models/search` (scope `models`): a cached proxy to the Hugging
/// Face Hub's model list.
struct ModelSearchController {
    let settings: ModelSearchSettings
    let transport: any ModelHubTransport
    let cache: ModelSearchCache

    /// Our sort names → the Hub's.
    private static let sorts: KeyValuePairs<String, String> = ["downloads": "downloads", "likes": "likes", "last_modified": "lastModified"]
    /// The Hub pages at 1,000 models; `offset + limit` must stay within one page.
    private static let maximumWindow = 1000

    init(settings: ModelSearchSettings, transport: any ModelHubTransport) {
        self.settings = settings
        self.transport = transport
        cache = ModelSearchCache(capacity: settings.cacheEntries, lifetimeSeconds: settings.cacheSeconds)
    }

    func register(on router: inout Router) {
        router.get("/api/models/search", auth: .scope(.models), operation: .searchModels, use: search)
    }

    func search(_ context: RequestContext) throws -> Response {
        let query = context.query
        let given = query["query"] ?? ""
        let text = given.trimmingWhitespace()
        guard text.unicodeScalars.count >= 2 else {
            throw APIError.badRequest("query must be at least 2 characters", message: "Invalid query parameter")
        }
        guard given.unicodeScalars.count <= 200 else {
            throw APIError.badRequest("query must be at most 200 characters", message: "Invalid query parameter")
        }
        let page = try Page(query: query)
        guard page.offset + page.limit <= Self.maximumWindow else {
            throw APIError.badRequest("offset + limit must be at most \(Self.maximumWindow)", message: "Invalid query parameter")
        }
        let sortName = query["sort"] ?? "downloads"
        guard let sort = Self.sorts.first(where: { $0.key == sortName })?.value else {
            throw APIError.badRequest("sort must be one of downloads, likes, last_modified", message: "Invalid query parameter")
        }
        let models = try hubModels(text, limit: page.offset + page.limit, sort: sort, clock: context.request.clock)
        let window = models.dropFirst(page.offset).prefix(page.limit)
        return .list(Array(window), total: models.count, page: page)
    }

    /// The Hub's models for (query, limit, sort), from the cache when fresh; a Hub call ends by `clock`'s deadline.
    private func hubModels(_ search: String, limit: Int, sort: String, clock: RequestClock?) throws(APIError) -> [JSONValue] {
        let key = "\(sort)\u{0}\(limit)\u{0}\(search)"
        if let cached = cache.models(for: key, now: Clocks.monotonicSeconds()) { return cached }
        var headers = ["Accept: application/json"]
        if let token = settings.token { headers.append("Authorization: Bearer \(token)") }
        let url = HubModelList.url(endpoint: settings.endpoint, search: search, limit: limit, sort: sort)
        let answer: (status: Int, body: [UInt8])
        // The Hub gets its own timeout, cut to what is left of the request's deadline.
        let left = clock?.remainingSeconds ?? .infinity
        guard left > 0 else { throw .requestTimedOut }
        let deadlineIsShorter = left < settings.timeoutSeconds
        do {
            let get = { () throws(ModelHubTransportError) in
                try transport.get(url: url, headers: headers, timeoutSeconds: min(settings.timeoutSeconds, left))
            }
            if let clock { answer = try clock.waiting(get) } else { answer = try get() }
        } catch {
            switch error {
            case .timedOut where deadlineIsShorter:
                throw .requestTimedOut
            case .timedOut:
                throw APIError(
                    .gatewayTimeout, "The Hugging Face Hub did not answer in time",
                    details: "no answer within \(settings.timeoutSeconds) s", code: "UPSTREAM_TIMEOUT"
                )
            case .failed(let reason):
                throw APIError(.badGateway, "The Hugging Face Hub could not be reached", details: reason, code: "UPSTREAM_ERROR")
            }
        }
        guard (200..<300).contains(answer.status) else {
            throw APIError(
                .badGateway, "The Hugging Face Hub answered with an error", details: "HTTP status \(answer.status)", code: "UPSTREAM_ERROR")
        }
        guard let models = HubModelList.models(from: answer.body) else {
            throw APIError(
                .badGateway, "The Hugging Face Hub sent an answer that could not be read",
                details: "expected a JSON array of models with an id each", code: "UPSTREAM_INVALID_RESPONSE"
            )
        }
        cache.store(models, for: key, now: Clocks.monotonicSeconds())
        return models
    }
}
