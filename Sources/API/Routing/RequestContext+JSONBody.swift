import Essentials
public import JSON

/// Reading and checking JSON request bodies, with 4xx errors that say what is wrong.
extension RequestContext {
    /// The body as a JSON object: 415 for another content type, 400 for an
    /// empty, malformed or non-object body.
    public func jsonObject(allowingNonFiniteNumbers: Bool = false) throws(APIError) -> JSONObject {
        if let type = request.headers["content-type"] {
            let mediaType = type.split(separator: ";").first.map { $0.trimmingWhitespace() }?.lowercased() ?? ""
            guard mediaType == "application/json" else {
                throw APIError(.unsupportedMediaType, "Unsupported content type", details: "send application/json, not \(mediaType)")
            }
        }
        guard !request.body.isEmpty else { throw APIError.badRequest("a JSON object body is required", message: "Missing request body") }
        let value: JSONValue
        do {
            value =
                allowingNonFiniteNumbers
                ? try JSONValue.parseAllowingNonFiniteNumbers(request.body) : try JSONValue.parse(request.body)
        } catch {
            throw APIError(.badRequest, "Malformed JSON", details: error.description, code: "INVALID_JSON")
        }
        guard case .object(let object) = value else {
            throw APIError.badRequest("the body must be a JSON object, not \(value.typeName)")
        }
        return object
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
