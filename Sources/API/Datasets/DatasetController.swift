import Crypto
import DatasetValidation
import Domain
import Essentials
import FoundationEssentials
import HTTPCore
import JSON

/// `/api/datasets`: validate a dataset, and store, list, show and delete
/// datasets. Bodies are streamed: validated (and stored) piece by piece as
/// they arrive, never held whole.
struct DatasetController {
    let datasets: any DatasetStore
    let files: DatasetFiles
    /// Largest dataset body accepted (the transport refuses more with a 413).
    let maxBytes: Int
    /// Checks the tokens of dataset URLs (`download`).
    let urls: DatasetURLSigner

    func register(on router: inout Router) {
        router.post(
            "/api/datasets/validate", auth: .scope(.datasets), body: .streamed(maxBytes: maxBytes), operation: .validateDataset, use: validate)
        router.post("/api/datasets", auth: .scope(.datasets), body: .streamed(maxBytes: maxBytes), operation: .uploadDataset, use: upload)
        router.get("/api/datasets", auth: .scope(.datasets), operation: .listDatasets, use: list)
        router.get("/api/datasets/{id:uuid}", auth: .scope(.datasets), operation: .showDataset, use: show)
        router.get("/api/datasets/{id:uuid}/content", auth: .scope(.datasets), operation: .downloadDataset, use: content)
        router.get("/api/datasets/download", auth: .none, operation: .downloadDatasetByToken, use: downloadByToken)
        router.delete("/api/datasets/{id:uuid}", auth: .scope(.datasets), operation: .deleteDataset, use: delete)
    }

    func validate(_ context: RequestContext) throws -> Response {
        var format = try Self.format(context.query["format"], field: "format")
        let requested = format
        var validator: DatasetValidator
        var bytes = 0
        switch try Self.bodyKind(context.request.headers["content-type"]) {
        case .lines(let layout):
            validator = DatasetValidator(format: requested, layout: layout)
            bytes = try Self.readBody(context) { validator.feed($0) }
        case .multipart(let parser):
            validator = DatasetValidator(format: requested, layout: nil)
            try Self.readMultipart(context, parser, fields: ["format"]) { data in
                validator.feed(data)
                bytes += data.count
            } field: { _, value in
                // A format field counts like ?format=; the file's checks already cover every format.
                format = try Self.merge(format, field: value)
            }
        }
        guard bytes > 0 else {
            throw APIError.badRequest("the body is empty; send the dataset as JSON Lines or a JSON array", message: "Empty dataset")
        }
        let report = validator.finish(format: format)
        guard report.totalExamples > 0 else {
            throw APIError.badRequest("the body holds no examples, only blank lines or an empty array", message: "Empty dataset")
        }
        return .json(report.json)
    }

    func list(_ context: RequestContext) throws -> Response {
        let page = try Page(query: context.query)
        let (records, total) = try datasets.list(userID: context.user.userID, limit: page.limit, offset: page.offset)
        return .list(records.map(Self.json), total: total, page: page)
    }

    func show(_ context: RequestContext) throws -> Response {
        guard let record = try datasets.find(id: context.parameter("id"), userID: context.user.userID) else { throw APIError.notFound }
        return .resource(id: record.id, data: Self.json(record))
    }

    /// A dataset URL's download: the token is the only credential, so a machine without one can fetch the bytes.
    func downloadByToken(_ context: RequestContext) throws -> Response {
        guard let token = context.query["token"], !token.isEmpty else { throw APIError(.badRequest, "Missing token parameter") }
        switch try urls.verify(token, now: Clocks.wallSeconds()) {
        case .failure(.expired):
            throw APIError(.unauthorized, "Token has expired")
        case .failure(.invalid):
            throw Self.invalidURLToken
        case .success(let named):
            guard let record = try datasets.find(id: named.datasetID, userID: named.userID) else { throw Self.invalidURLToken }
            return DatasetDownload.response(for: record, files: files, request: context.request)
        }
    }

    private static let invalidURLToken = APIError(.unauthorized, "Invalid or expired token")

    func content(_ context: RequestContext) throws -> Response {
        guard let record = try datasets.find(id: context.parameter("id"), userID: context.user.userID) else { throw APIError.notFound }
        return DatasetDownload.response(for: record, files: files, request: context.request)
    }

    func delete(_ context: RequestContext) throws -> Response {
        switch try datasets.delete(id: context.parameter("id"), userID: context.user.userID) {
        case .notFound:
            throw APIError.notFound
        case .inUse(let jobs):
            throw APIError(
                .conflict, "Dataset is in use", details: "\(jobs) training job(s) that are not finished use this dataset",
                code: "DATASET_IN_USE")
        case .deleted(let record):
            // After the commit: a crash here leaves a file without a record, which the start-up sweep removes.
            files.remove(relativePath: record.filePath)
            return .action("Dataset deleted")
        }
    }

    // MARK: Upload

    /// Validates the body while writing it to a partial file and hashing it;
    /// a valid dataset's file is flushed and renamed into place, and only
    /// then is its record committed. Any failure removes the partial file.
    func upload(_ context: RequestContext) throws -> Response {
        let userID = try context.user.userID
        let query = context.query
        var name = try query["name"].map { try Self.name($0) }
        var format = try Self.format(query["format"], field: "format")
        let id = UUID().uuidString.lowercased()
        let file = try files.createPartial(id: id)
        var hasher = SHA256()
        var validator: DatasetValidator?

        func store(_ chunk: UnsafeRawBufferPointer) throws {
            validator?.feed(chunk)
            hasher.update(bufferPointer: chunk)
            try file.write(chunk)
        }

        switch try Self.bodyKind(context.request.headers["content-type"]) {
        case .lines(let layout):
            guard let known = name else { throw APIError.badRequest("name is required (the name query parameter, for a raw body)") }
            // Refuse a taken name before reading a large body; the insert checks again.
            if try datasets.exists(name: known, userID: userID) { throw Self.duplicate(known) }
            validator = DatasetValidator(format: format, layout: layout)
            try Self.readBody(context) { try store($0) }
            if validator?.layout == .jsonArray {
                throw APIError(
                    .unsupportedMediaType, "Unsupported dataset layout",
                    details: "store datasets as JSON Lines (one example per line), not a JSON array", code: "UNSUPPORTED_LAYOUT")
            }
        case .multipart(let parser):
            let sawFile = try Self.readMultipart(context, parser, fields: ["name", "format"]) {
                validator = DatasetValidator(format: format, layout: .jsonLines)
            } file: { data in
                try store(data)
            } field: { part, value in
                if part == "name" { name = try Self.name(Self.text(of: value, part: part)) }
                if part == "format" { format = try Self.merge(format, field: value) }
            }
            guard sawFile else { throw APIError.badRequest("the file part is missing (multipart field file)") }
        }
        guard let name else { throw APIError.badRequest("name is required") }
        guard file.size > 0, var validator else {
            throw APIError.badRequest("the dataset file is empty", message: "Empty dataset")
        }
        let report = validator.finish(format: format)
        guard report.isValid else {
            var error = APIError(.badRequest, "Dataset is invalid", code: "INVALID_DATASET")
            error.detailsValue = report.json
            throw error
        }

        let record = DatasetRecord(
            id: id, userID: userID, name: name, format: report.format.rawValue, sizeBytes: file.size,
            totalExamples: Int64(report.totalExamples), sha256: Hex.encode(hasher.finalize()),
            filePath: files.relativePath(forID: id), createdAt: .now()
        )
        try file.commit(to: record.filePath)
        do {
            try datasets.insert(record)
        } catch StoreError.duplicate {
            files.remove(relativePath: record.filePath)
            throw Self.duplicate(name)
        } catch {
            files.remove(relativePath: record.filePath)
            throw error
        }
        return .resource(id: record.id, data: Self.json(record), status: .created)
    }

    // MARK: Reading bodies

    private enum BodyKind {
        case lines(DatasetValidator.Layout?)
        case multipart(MultipartParser)
    }

    /// JSON Lines types, `application/json` (an array, or lines: told by the
    /// first byte), or multipart; anything else (`text/plain` too) is a 415.
    /// No type at all is read as JSON Lines.
    private static func bodyKind(_ contentType: String?) throws -> BodyKind {
        guard let contentType, !contentType.isEmpty else { return .lines(.jsonLines) }
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingWhitespace().lowercased() } ?? ""
        switch mediaType {
        case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonl", "application/jsonlines",
            "application/x-jsonlines", "text/jsonl":
            return .lines(.jsonLines)
        case "application/json":
            return .lines(nil)
        case "multipart/form-data":
            guard let parser = MultipartParser(contentType: contentType) else {
                throw APIError.badRequest("multipart/form-data needs a boundary parameter", message: "Malformed multipart body")
            }
            return .multipart(parser)
        default:
            throw APIError(
                .unsupportedMediaType, "Unsupported content type",
                details: "send application/x-ndjson (JSON Lines), application/json (an array) or multipart/form-data, not \(mediaType)",
                code: "UNSUPPORTED_MEDIA_TYPE")
        }
    }

    /// Reads the streamed body to its end, handing each piece to `consume`;
    /// returns the byte count. Falls back to a buffered body (in-process callers).
    @discardableResult
    private static func readBody(_ context: RequestContext, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        guard let stream = context.request.bodyStream else {
            try context.request.body.withUnsafeBytes { if !$0.isEmpty { try consume($0) } }
            return context.request.body.count
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let count: Int
            do {
                count = try stream.read(into: buffer)
            } catch .tooLarge(let limit) {
                throw APIError(.contentTooLarge, "Request body too large", details: "the limit is \(limit) bytes", code: "PAYLOAD_TOO_LARGE")
            } catch .incomplete {
                throw APIError.badRequest("the body ended before it was complete", message: "Incomplete request body")
            } catch .tooSlow(let rate, let window) {
                throw APIError(
                    .requestTimeout, "Request body too slow", details: "fewer than \(rate) bytes per second arrived over \(window) s",
                    code: "BODY_TOO_SLOW")
            }
            guard count > 0 else { return total }
            total += count
            try consume(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Reads a multipart body to its end: the `file` part's content goes to `file` (one file part at most;
    /// `fileStarted` runs as it begins), each part named in `fields` is collected (1 KiB at most) and handed to
    /// `field` when it ends, and other parts are skipped. Returns whether there was a file part.
    @discardableResult
    private static func readMultipart(
        _ context: RequestContext, _ parser: MultipartParser, fields: Set<String>, fileStarted: () throws -> Void = {},
        file: (UnsafeRawBufferPointer) throws -> Void, field: (String, [UInt8]) throws -> Void
    ) throws -> Bool {
        var parser = parser
        var part = ""
        var value: [UInt8] = []
        var sawFile = false
        try readBody(context) { chunk in
            do {
                try parser.feed(chunk) { event in
                    switch event {
                    case .partStarted(let name, _):
                        part = name
                        value = []
                        if part == "file" {
                            // Two files would be read as one.
                            guard !sawFile else { throw malformedMultipart("only one file part is accepted") }
                            sawFile = true
                            try fileStarted()
                        }
                    case .data(let data) where part == "file":
                        try file(data)
                    case .data(let data) where fields.contains(part):
                        try collect(data, into: &value, part: part)
                    case .partEnded where fields.contains(part):
                        try field(part, value)
                    case .data, .partEnded:
                        break
                    }
                }
            } catch MultipartParser.Failure.malformed(let why) {
                throw malformedMultipart(why)
            }
        }
        guard parser.isComplete else { throw malformedMultipart("the closing boundary is missing") }
        return sawFile
    }

    // MARK: Fields and errors

    /// Appends a piece of a small multipart text field, at most 1 KiB in all.
    private static func collect(_ data: UnsafeRawBufferPointer, into field: inout [UInt8], part: String) throws(APIError) {
        guard field.count + data.count <= 1024 else { throw APIError.badRequest("the \(part) field is too long") }
        field.append(contentsOf: data)
    }

    /// The format once a multipart `format` field has been read: the one
    /// already known (from the query), the field's, or a 400 when they differ.
    private static func merge(_ known: DatasetFormat?, field: [UInt8]) throws(APIError) -> DatasetFormat? {
        guard let given = try format(text(of: field, part: "format"), field: "format") else { return known }
        if let known, known != given {
            throw APIError.badRequest("format is given twice, as \(known.rawValue) and \(given.rawValue)")
        }
        return given
    }

    private static func malformedMultipart(_ why: String) -> APIError {
        APIError.badRequest(why, message: "Malformed multipart body")
    }

    private static func duplicate(_ name: String) -> APIError {
        APIError(.conflict, "A dataset with this name already exists", details: "name \(name) is taken", code: "DUPLICATE_NAME")
    }

    /// `auto` or absent → nil (detect); else one of the formats (empty is a 400, like any other unknown name).
    private static func format(_ text: String?, field: String) throws(APIError) -> DatasetFormat? {
        guard let text, text != "auto" else { return nil }
        guard let format = DatasetFormat(rawValue: text) else {
            throw APIError.badRequest("\(field) must be auto or one of \(DatasetFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return format
    }

    private static func name(_ text: String) throws(APIError) -> String {
        let name = text[...].trimmingWhitespace()
        guard !name.isEmpty else { throw APIError.badRequest("name must not be blank") }
        guard text.unicodeScalars.count <= 200 else { throw APIError.badRequest("name must be at most 200 characters") }
        try FieldReader.refuseControlCharacters(name, field: "name")
        return name
    }

    /// A multipart text field's bytes as text: invalid UTF-8 is refused, as in a JSON body, never repaired.
    private static func text(of field: [UInt8], part: String) throws(APIError) -> String {
        guard let text = String(validating: field, as: UTF8.self) else {
            throw APIError.badRequest("the \(part) field is not valid UTF-8")
        }
        return text
    }

    private static func json(_ record: DatasetRecord) -> JSONValue {
        .object(
            JSONObject([
                ("id", .string(record.id)), ("name", .string(record.name)), ("format", .string(record.format)),
                ("size_bytes", .int(Int(record.sizeBytes))), ("total_examples", .int(Int(record.totalExamples))),
                ("sha256", .string(record.sha256)), ("created_at", .string(record.createdAt.iso8601)),
            ]))
    }
}
