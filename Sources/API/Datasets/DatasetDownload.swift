import Domain
import Essentials
import HTTPCore

/// A dataset download: the pool authorizes and answers with an empty body
/// and `X-Accel-Redirect` to nginx's `internal` location for stored files
/// (`/_ftapi/datasets/<id>.jsonl`); nginx sends the file itself (sendfile,
/// ranges), so no pool thread waits on the client.
enum DatasetDownload {
    /// The URI prefix of nginx's internal location; it maps onto `<DATA_DIR>/datasets/`.
    static let internalPrefix = "/_ftapi/"

    /// The redirect answer for `record`, or a 304 when the request's
    /// `If-None-Match` names its ETag. The pool answers the 304 itself: nginx's
    /// not-modified check runs before its `add_header` puts the pool's ETag on
    /// the file's response, so it never sees one.
    static func response(for record: DatasetRecord, files: DatasetFiles, request: Request) -> Response {
        let etag = "\"\(record.sha256)\""
        if let condition = request.headers["if-none-match"], matches(condition, etag: etag) {
            return Response(status: HTTPStatus(304, "Not Modified"), headers: [("ETag", etag)])
        }
        // Only the committed file's own path: never a record's stored path or anything under .partial.
        let target = internalPrefix + files.relativePath(forID: record.id)
        return Response(
            status: .ok,
            headers: [
                ("X-Accel-Redirect", target), ("Content-Type", "application/x-ndjson"), ("ETag", etag),
                ("Content-Disposition", "attachment; filename=\"\(headerSafe(record.name)).jsonl\""),
            ])
    }

    /// Whether an `If-None-Match` value (`*` or a list of entity tags, weak ones
    /// compared weakly as RFC 9110 asks) names `etag`.
    static func matches(_ condition: String, etag: String) -> Bool {
        condition.split(separator: ",").contains { item in
            var tag = item.trimmingWhitespace()
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = String(tag.dropFirst(2)) }
            return tag == etag
        }
    }

    /// `name` fit for a quoted header parameter: printable ASCII without quotes
    /// or backslashes; anything else becomes `_`.
    static func headerSafe(_ name: String) -> String {
        var result = ""
        for scalar in name.unicodeScalars {
            let printable = scalar.value >= 0x20 && scalar.value < 0x7F && scalar != "\"" && scalar != "\\"
            result.unicodeScalars.append(printable ? scalar : "_")
        }
        return result
    }
}
