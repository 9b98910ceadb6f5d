import Domain
import Essentials
import JSON

/// The Hub's `GET /api/models` request and the mapping of its answer to the
/// contract's model fields.
enum HubModelList {
    /// The properties asked of the Hub (`expand`), so that `author` and
    /// `lastModified` come back too.
    static let expand = ["author", "downloads", "likes", "tags", "pipeline_tag", "library_name", "createdAt", "lastModified"]

    /// `{endpoint}/api/models?search=…&limit=…&sort=…&direction=-1&expand=…`
    static func url(endpoint: String, search: String, limit: Int, sort: String) -> String {
        var url = endpoint + "/api/models?search=" + percentEncoded(search) + "&limit=\(limit)&sort=" + sort + "&direction=-1"
        for property in expand { url += "&expand=" + property }
        return url
    }

    /// The Hub's answer (a JSON array of models) in the contract's shape, or
    /// nil when it is not JSON or not that shape.
    static func models(from body: [UInt8]) -> [JSONValue]? {
        guard case .array(let elements)? = try? JSONValue.parse(body) else { return nil }
        var models: [JSONValue] = []
        models.reserveCapacity(elements.count)
        for element in elements {
            guard case .object(let hub) = element, let model = model(hub) else { return nil }
            models.append(model)
        }
        return models
    }

    /// One model: `name` is the part of the id after the slash, `author` the
    /// Hub's or else the part before it; times normalised to whole UTC seconds.
    static func model(_ hub: JSONObject) -> JSONValue? {
        guard case .string(let id)? = hub["id"] ?? hub["modelId"], !id.isEmpty else { return nil }
        let slash = id.firstIndex(of: "/")
        let name = slash.map { String(id[id.index(after: $0)...]) } ?? id
        var author: String?
        if case .string(let given)? = hub["author"], !given.isEmpty { author = given } else { author = slash.map { String(id[..<$0]) } }
        let tags: [JSONValue] =
            if case .array(let values)? = hub["tags"] { values.filter { if case .string = $0 { true } else { false } } } else { [] }
        return .object([
            "id": .string(id), "name": .string(name), "author": .string(author),
            "downloads": .int(count(hub["downloads"])), "likes": .int(count(hub["likes"])), "tags": .array(tags),
            "pipeline_tag": .string(text(hub["pipeline_tag"])), "library_name": .string(text(hub["library_name"])),
            "created_at": .string(time(hub["createdAt"])), "last_modified": .string(time(hub["lastModified"])),
        ])
    }

    private static func count(_ value: JSONValue?) -> Int64 {
        switch value {
        case .int(let number)?: number
        case .double(let number)? where number.isFinite && abs(number) < 9e18: Int64(number)
        default: 0
        }
    }

    private static func text(_ value: JSONValue?) -> String? {
        if case .string(let text)? = value, !text.isEmpty { return text }
        return nil
    }

    private static func time(_ value: JSONValue?) -> String? {
        text(value).flatMap { Timestamp(iso8601: $0)?.iso8601 }
    }

    /// RFC 3986 query-value encoding: unreserved characters stay, the rest is %XX.
    static func percentEncoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), Hex.digit(byte >> 4, uppercase: true), Hex.digit(byte & 0xF, uppercase: true)]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
