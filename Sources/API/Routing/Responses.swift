public import HTTPCore
public import JSON

extension Response {
    /// A JSON response with the contract's content type.
    public static func json(_ value: JSONValue, status: HTTPStatus = .ok, headers: [(name: String, value: String)] = []) -> Response {
        json(serialized: value.serialized(), status: status, headers: headers)
    }

    /// A JSON response whose body is already encoded.
    public static func json(serialized body: [UInt8], status: HTTPStatus = .ok, headers: [(name: String, value: String)] = []) -> Response {
        var all: [(name: String, value: String)] = []
        // Room for the rate-limit headers and X-Request-Id added on the way out, so the array grows once.
        all.reserveCapacity(headers.count + 6)
        all.append(("Content-Type", "application/json; charset=utf-8"))
        all.append(contentsOf: headers)
        return Response(status: status, headers: all, body: body)
    }

    /// `{"id": ..., "data": {...}}`
    public static func resource(id: String, data: JSONValue, status: HTTPStatus = .ok) -> Response {
        .json(.object(["id": .string(id), "data": data]), status: status)
    }

    /// `{"data": [...], "total": N, "limit": N, "offset": N}`
    public static func list(_ items: [JSONValue], total: Int, page: Page) -> Response {
        .json(.object(["data": .array(items), "total": .int(total), "limit": .int(page.limit), "offset": .int(page.offset)]))
    }

    /// `{"success": true, "message": ...}`
    public static func action(_ message: String) -> Response {
        .json(.object(["success": .bool(true), "message": .string(message)]))
    }

    /// The error's JSON body, status and headers.
    public static func error(_ error: APIError) -> Response {
        .json(error.body, status: error.status, headers: error.headers.map { ($0.name, $0.value) })
    }
}
