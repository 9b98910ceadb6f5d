import API
import Crypto
import Domain
import Foundation
import HTTPCore
import Testing

/// `/api/datasets` in memory: validation, upload (raw and multipart) with
/// its file on disk, list, get, delete, and jobs that reference datasets.
@Suite struct DatasetEndpointTests {
    static let chat = #"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}"#
    static let file = Array((Array(repeating: chat, count: 200).joined(separator: "\n") + "\n").utf8)
    static let jsonl = ["Content-Type": "application/x-ndjson"]

    let env: TestEnvironment
    let user = newUserID()
    let headers: [String: String]

    init() throws {
        env = try TestEnvironment()
        headers = ["X-API-Key": try env.insertKey(userID: user, scopes: [.datasets, .training]).key]
    }

    func with(_ extra: [String: String]) -> [String: String] { headers.merging(extra) { $1 } }

    /// Files under the data directory's datasets folder (stored and partial).
    func filesOnDisk() -> [String] {
        let root = env.directory + "/datasets"
        let stored = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        let partial = (try? FileManager.default.contentsOfDirectory(atPath: root + "/.partial")) ?? []
        return stored.filter { $0 != ".partial" } + partial.map { ".partial/" + $0 }
    }

    func upload(_ body: [UInt8], name: String, format: String? = nil, headers extra: [String: String] = jsonl) -> Response {
        var query = "name=\(name)"
        if let format { query += "&format=\(format)" }
        return env.sendStreamed("POST", "/api/datasets", query: query, headers: with(extra), body: body)
    }

    static func multipart(_ parts: [(name: String, filename: String?, body: [UInt8])], boundary: String = "XyZzY-boundary") -> [UInt8] {
        var bytes: [UInt8] = []
        for part in parts {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { head += "; filename=\"\(filename)\"\r\nContent-Type: application/x-ndjson" }
            bytes += Array((head + "\r\n\r\n").utf8) + part.body + Array("\r\n".utf8)
        }
        return bytes + Array("--\(boundary)--\r\n".utf8)
    }

    // MARK: Validate

    @Test func validateReportsOnAStreamedBody() throws {
        let body = Array((Self.chat + "\n\n{broken\n").utf8)
        let response = env.sendStreamed("POST", "/api/datasets/validate", headers: with(Self.jsonl), body: body, pieceBytes: 3)
        #expect(response.status == .ok)
        let report = try response.object()
        #expect(report["valid"] == .bool(false))
        #expect(report["format"] == .string("chatml"))
        #expect(report["total_examples"] == .int(2))
        #expect(report["error_count"] == .int(1))
        #expect(report["errors"] == .array([.object(["line": .int(3), "message": .string("Line 3: invalid JSON")])]))
        #expect(Set(try #require(report["stats"]?.dictionary).keys) == ["avg_input_chars", "avg_output_chars", "estimated_tokens"])
    }

    @Test func validateTakesAJSONArrayAndMultipart() throws {
        let array = Array("[\(Self.chat), \(Self.chat)]".utf8)
        let fromArray = try env.sendStreamed("POST", "/api/datasets/validate", headers: with(["Content-Type": "application/json"]), body: array)
            .object()
        #expect(fromArray["valid"] == .bool(true) && fromArray["total_examples"] == .int(2))

        let form = Self.multipart([("file", "d.jsonl", Self.file)])
        let fromForm = try env.sendStreamed(
            "POST", "/api/datasets/validate", headers: with(["Content-Type": "multipart/form-data; boundary=XyZzY-boundary"]), body: form,
            pieceBytes: 7
        ).object()
        #expect(fromForm["valid"] == .bool(true) && fromForm["total_examples"] == .int(200))
    }

    @Test func validateWithAGivenFormatChecksThatFormat() throws {
        let report = try env.sendStreamed(
            "POST", "/api/datasets/validate", query: "format=alpaca", headers: with(Self.jsonl), body: Array(Self.chat.utf8)
        ).object()
        #expect(report["format"] == .string("alpaca"))
        #expect(report["detected_confidence"] == .string("high"))
        #expect(report["valid"] == .bool(false))
    }

    @Test func validateRefusesBadRequests() throws {
        let empty = env.sendStreamed("POST", "/api/datasets/validate", headers: with(Self.jsonl), body: [])
        #expect(empty.status == .badRequest)
        let format = env.sendStreamed("POST", "/api/datasets/validate", query: "format=csv", headers: with(Self.jsonl), body: Self.file)
        #expect(format.status == .badRequest)
        #expect(try format.object()["details"]?.stringValue?.contains("format") == true)
        let emptyFormat = env.sendStreamed("POST", "/api/datasets/validate", query: "format=", headers: with(Self.jsonl), body: Self.file)
        #expect(emptyFormat.status == .badRequest)
        let type = env.sendStreamed("POST", "/api/datasets/validate", headers: with(["Content-Type": "text/csv"]), body: Self.file)
        #expect(type.status == .unsupportedMediaType)
        let large = env.sendStreamed("POST", "/api/datasets/validate", headers: with(Self.jsonl), body: Self.file, maxBytes: 1000)
        #expect(large.status == .contentTooLarge)
        let noBoundary = env.sendStreamed("POST", "/api/datasets/validate", headers: with(["Content-Type": "multipart/form-data"]), body: Self.file)
        #expect(noBoundary.status == .badRequest)
    }

    @Test func validateRefusesPlainTextAndBodiesWithoutExamples() throws {
        for type in ["text/plain", "application/octet-stream", "application/x-www-form-urlencoded"] {
            #expect(
                env.sendStreamed("POST", "/api/datasets/validate", headers: with(["Content-Type": type]), body: Self.file).status
                    == .unsupportedMediaType)
            #expect(upload(Self.file, name: "t", headers: ["Content-Type": type]).status == .unsupportedMediaType)
        }
        // No content type at all is read as JSON Lines.
        #expect(env.sendStreamed("POST", "/api/datasets/validate", headers: headers, body: Self.file).status == .ok)
        for body in ["\n \n\n", " [ ] "] {
            let response = env.sendStreamed(
                "POST", "/api/datasets/validate", headers: with(["Content-Type": "application/json"]), body: Array(body.utf8))
            #expect(response.status == .badRequest)
            #expect(try response.object()["error"] == .string("Empty dataset"))
        }
    }

    @Test func aMultipartFormatFieldIsHonouredByValidate() throws {
        let form = Self.multipart([("format", nil, Array("alpaca".utf8)), ("file", "d.jsonl", Self.file)])
        let report = try env.sendStreamed(
            "POST", "/api/datasets/validate", headers: with(["Content-Type": "multipart/form-data; boundary=XyZzY-boundary"]), body: form
        ).object()
        #expect(report["format"] == .string("alpaca"))
        #expect(report["valid"] == .bool(false))
        let clash = env.sendStreamed(
            "POST", "/api/datasets/validate", query: "format=chatml", headers: with(["Content-Type": "multipart/form-data; boundary=XyZzY-boundary"]),
            body: form)
        #expect(clash.status == .badRequest)
    }

    @Test func datasetPostsStreamWithOrWithoutATrailingSlash() {
        for path in ["/api/datasets", "/api/datasets/", "/api/datasets/validate", "/api/datasets/validate/"] {
            #expect(env.app.responder.route(method: "POST", path: path).body == .streamed(maxBytes: 100 << 20), "\(path)")
        }
        #expect(env.app.responder.route(method: "GET", path: "/api/datasets").body == .buffered)
        #expect(env.app.responder.route(method: "POST", path: "/api/training/jobs").body == .buffered)
        #expect(env.app.responder.route(method: "POST", path: "/api/datasets/nope").body == .buffered)
    }

    @Test func validateNeedsTheDatasetsScope() throws {
        let training = try env.insertKey(userID: user, scopes: [.training]).key
        let response = env.sendStreamed("POST", "/api/datasets/validate", headers: ["X-API-Key": training] + Self.jsonl, body: Self.file)
        #expect(response.status == .forbidden)
        #expect(env.sendStreamed("POST", "/api/datasets/validate", headers: Self.jsonl, body: Self.file).status == .unauthorized)
    }

    // MARK: Upload

    @Test func aRawUploadIsStoredWithItsHashAndSize() throws {
        let response = upload(Self.file, name: "chats", format: "chatml")
        #expect(response.status == .created)
        let body = try response.object()
        let data = try #require(body["data"]?.dictionary)
        let id = try #require(data["id"]?.stringValue)
        #expect(body["id"] == .string(id))
        #expect(data["name"] == .string("chats"))
        #expect(data["format"] == .string("chatml"))
        #expect(data["size_bytes"] == .int(Self.file.count))
        #expect(data["total_examples"] == .int(200))
        let sha = SHA256.hash(data: Self.file).map { String(format: "%02x", $0) }.joined()
        #expect(data["sha256"] == .string(sha))
        #expect(data["created_at"]?.stringValue?.hasSuffix("Z") == true)
        let stored = try Data(contentsOf: URL(fileURLWithPath: env.directory + "/datasets/\(id).jsonl"))
        #expect(Array(stored) == Self.file)
        #expect(filesOnDisk() == ["\(id).jsonl"])
    }

    @Test func aMultipartUploadTakesNameAndFormatFromItsFields() throws {
        let form = Self.multipart([("name", nil, Array("from form".utf8)), ("format", nil, Array("auto".utf8)), ("file", "d.jsonl", Self.file)])
        let response = env.sendStreamed(
            "POST", "/api/datasets", headers: with(["Content-Type": "multipart/form-data; boundary=\"XyZzY-boundary\""]), body: form,
            pieceBytes: 13
        )
        #expect(response.status == .created)
        let data = try #require(try response.object()["data"]?.dictionary)
        #expect(data["name"] == .string("from form"))
        #expect(data["format"] == .string("chatml"))
        #expect(data["size_bytes"] == .int(Self.file.count))

        // Fields after the file work too.
        let late = Self.multipart([("file", "d.jsonl", Self.file), ("name", nil, Array("late".utf8)), ("format", nil, Array("chatml".utf8))])
        let second = env.sendStreamed(
            "POST", "/api/datasets", headers: with(["Content-Type": "multipart/form-data; boundary=XyZzY-boundary"]), body: late)
        #expect(second.status == .created)
    }

    @Test func anInvalidDatasetIs400WithTheReportAndLeavesNothing() throws {
        let response = upload(Array((Self.chat + "\n{\"messages\":[]}\n").utf8), name: "bad")
        #expect(response.status == .badRequest)
        let body = try response.object()
        #expect(body["code"] == .string("INVALID_DATASET"))
        let details = try #require(body["details"]?.dictionary)
        #expect(details["valid"] == .bool(false))
        #expect(details["error_count"] == .int(1))
        #expect(filesOnDisk().isEmpty)
        #expect(try env.store.datasets.list(userID: user, limit: 10, offset: 0).total == 0)
    }

    @Test func aDuplicateNameIs409AndLeavesNoFile() throws {
        #expect(upload(Self.file, name: "same").status == .created)
        let again = upload(Self.file, name: "same")
        #expect(again.status == .conflict)
        #expect(try again.object()["code"] == .string("DUPLICATE_NAME"))
        let form = Self.multipart([("name", nil, Array("same".utf8)), ("file", "d.jsonl", Self.file)])
        let viaForm = env.sendStreamed(
            "POST", "/api/datasets", headers: with(["Content-Type": "multipart/form-data; boundary=XyZzY-boundary"]), body: form)
        #expect(viaForm.status == .conflict)
        #expect(filesOnDisk().count == 1)
        // Another user may use the name.
        let other = try env.insertKey(userID: newUserID(), scopes: [.datasets]).key
        let theirs = env.sendStreamed("POST", "/api/datasets", query: "name=same", headers: ["X-API-Key": other] + Self.jsonl, body: Self.file)
        #expect(theirs.status == .created)
    }

    @Test func anAbortedUploadLeavesNeitherRecordNorFile() throws {
        let response = env.sendStreamed(
            "POST", "/api/datasets", query: "name=aborted", headers: with(Self.jsonl), body: Array(Self.file.prefix(5000)), endsEarly: true)
        #expect(response.status == .badRequest)
        #expect(filesOnDisk().isEmpty)
        #expect(try env.store.datasets.exists(name: "aborted", userID: user) == false)
        let tooLarge = env.sendStreamed("POST", "/api/datasets", query: "name=large", headers: with(Self.jsonl), body: Self.file, maxBytes: 4000)
        #expect(tooLarge.status == .contentTooLarge)
        #expect(filesOnDisk().isEmpty)
    }

    @Test func uploadRefusesMissingPartsAndBadFields() throws {
        #expect(env.sendStreamed("POST", "/api/datasets", headers: with(Self.jsonl), body: Self.file).status == .badRequest)  // no name
        #expect(upload(Self.file, name: "x", format: "csv").status == .badRequest)
        #expect(upload([], name: "empty").status == .badRequest)
        #expect(upload(Array("[\(Self.chat)]".utf8), name: "array", headers: ["Content-Type": "application/json"]).status == .unsupportedMediaType)
        let noFile = Self.multipart([("name", nil, Array("n".utf8))])
        #expect(
            env.sendStreamed("POST", "/api/datasets", headers: with(["Content-Type": "multipart/form-data; boundary=XyZzY-boundary"]), body: noFile)
                .status == .badRequest)
        // Two file parts would be read as one file: refused on both routes.
        let twoFiles = Self.multipart([("name", nil, Array("two".utf8)), ("file", "a.jsonl", Self.file), ("file", "b.jsonl", Self.file)])
        for path in ["/api/datasets", "/api/datasets/validate"] {
            let refused = env.sendStreamed(
                "POST", path, headers: with(["Content-Type": "multipart/form-data; boundary=XyZzY-boundary"]), body: twoFiles)
            #expect(refused.status == .badRequest, "\(path)")
            #expect(try refused.object()["details"]?.stringValue == "only one file part is accepted", "\(path)")
        }
        var unterminated = Self.multipart([("name", nil, Array("n".utf8)), ("file", "d.jsonl", Self.file)])
        unterminated.removeLast(20)
        #expect(
            env.sendStreamed(
                "POST", "/api/datasets", headers: with(["Content-Type": "multipart/form-data; boundary=XyZzY-boundary"]), body: unterminated
            ).status == .badRequest)
        #expect(filesOnDisk().isEmpty)
    }

    // MARK: List, get, delete

    @Test func listGetAndDeleteAreTheCallersOnly() throws {
        let first = try #require(try upload(Self.file, name: "one").object()["id"]?.stringValue)
        let second = try #require(try upload(Self.file, name: "two").object()["id"]?.stringValue)
        let list = try env.get("/api/datasets", headers: headers).object()
        #expect(list["total"] == .int(2))
        #expect(list["limit"] == .int(50) && list["offset"] == .int(0))
        #expect(list["data"]?.arrayValue?.compactMap { $0.dictionary?["id"]?.stringValue } == [second, first])
        #expect(env.get("/api/datasets", query: "limit=0", headers: headers).status == .badRequest)

        let one = try env.get("/api/datasets/\(first)", headers: headers).object()
        #expect(one["id"] == .string(first))

        let stranger = ["X-API-Key": try env.insertKey(userID: newUserID(), scopes: [.datasets]).key]
        #expect(env.get("/api/datasets/\(first)", headers: stranger).status == .notFound)
        #expect(env.send("DELETE", "/api/datasets/\(first)", headers: stranger).status == .notFound)
        #expect(try env.get("/api/datasets", headers: stranger).object()["total"] == .int(0))

        let deleted = env.send("DELETE", "/api/datasets/\(first)", headers: headers)
        #expect(deleted.status == .ok)
        #expect(try deleted.object()["success"] == .bool(true))
        #expect(env.get("/api/datasets/\(first)", headers: headers).status == .notFound)
        #expect(filesOnDisk() == ["\(second).jsonl"])
        #expect(env.send("DELETE", "/api/datasets/\(first)", headers: headers).status == .notFound)
    }

    @Test func jobsReferenceTheCallersDatasetsAndHoldThemWhileRunning() throws {
        let dataset = try #require(try upload(Self.file, name: "train").object()["id"]?.stringValue)
        let stranger = ["X-API-Key": try env.insertKey(userID: newUserID(), scopes: [.training]).key]
        let theirs = env.postJSON("/api/training/jobs", #"{"model_name":"m","dataset_id":"\#(dataset)"}"#, headers: stranger)
        #expect(theirs.status == .badRequest)
        #expect(env.postJSON("/api/training/jobs", #"{"model_name":"m","dataset_id":"nope"}"#, headers: headers).status == .badRequest)

        let created = env.postJSON("/api/training/jobs", #"{"model_name":"m","dataset_id":"\#(dataset.uppercased())"}"#, headers: headers)
        #expect(created.status == .created)
        let job = try #require(created.object()["id"]?.stringValue)
        #expect(try created.object()["data"]?.dictionary?["dataset_id"] == .string(dataset))

        let held = env.send("DELETE", "/api/datasets/\(dataset)", headers: headers)
        #expect(held.status == .conflict)
        #expect(try held.object()["code"] == .string("DATASET_IN_USE"))
        #expect(filesOnDisk() == ["\(dataset).jsonl"])

        #expect(env.send("POST", "/api/training/jobs/\(job)/cancel", headers: headers).status == .ok)
        #expect(env.send("DELETE", "/api/datasets/\(dataset)", headers: headers).status == .ok)
        #expect(filesOnDisk().isEmpty)
        // Restarting a job whose dataset is gone is a conflict, not a dangling reference.
        let restart = env.send("POST", "/api/training/jobs/\(job)/restart", headers: headers)
        #expect(restart.status == .conflict)
        #expect(try restart.object()["code"] == .string("DATASET_DELETED"))
    }

    @Test func theSweepRemovesPartialsOfDeadWritersAndUnrecordedFiles() throws {
        let files = DatasetFiles(dataDirectory: env.directory, host: "this-host")
        try files.prepare()
        let stored = try #require(try upload(Self.file, name: "kept").object()["id"]?.stringValue)
        let datasets = env.directory + "/datasets/"
        func create(_ path: String, hoursOld: Double = 0) throws {
            try #require(FileManager.default.createFile(atPath: datasets + path, contents: Data([1])))
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -hoursOld * 3600)], ofItemAtPath: datasets + path)
        }
        // This host: a partial file of a process that no longer exists, one of this (live) process, and a file without a
        // record whose commit was lost long ago.
        try create(".partial/this-host@999999999-dead.part")
        let live = try files.createPartial(id: "live")
        try create("orphan.jsonl", hoursOld: 2)
        // Another host sharing the directory: an upload in progress (its pid means nothing here), one abandoned long ago,
        // one named by an older version (no host), and a fresh file without a record: its upload between rename and commit.
        try create(".partial/other-host@999999998-busy.part")
        try create(".partial/other-host@999999997-gone.part", hoursOld: 2)
        try create(".partial/999999996-old-version.part", hoursOld: 2)
        try create("committing.jsonl")

        #expect(files.sweep(everyPartial: false, recorded: nil) == 3)
        #expect(
            filesOnDisk().sorted()
                == [
                    ".partial/this-host@\(getpid())-live.part", ".partial/other-host@999999998-busy.part", "\(stored).jsonl", "orphan.jsonl",
                    "committing.jsonl",
                ].sorted())
        #expect(files.sweep(everyPartial: true, recorded: try env.store.datasets.allFilePaths()) == 2)
        #expect(filesOnDisk().sorted() == [".partial/other-host@999999998-busy.part", "\(stored).jsonl", "committing.jsonl"].sorted())
        // Once nothing wrote to them for DatasetFiles.abandonedAfterSeconds, they are abandoned.
        let later = Int(Date().timeIntervalSince1970) + DatasetFiles.abandonedAfterSeconds + 1
        #expect(files.sweep(everyPartial: false, recorded: try env.store.datasets.allFilePaths(), now: later) == 2)
        #expect(filesOnDisk() == ["\(stored).jsonl"])
        live.discard()
    }
}

extension Dictionary where Key == String, Value == String {
    static func + (lhs: Self, rhs: Self) -> Self { lhs.merging(rhs) { $1 } }
}

extension DatasetEndpointTests {
    @Test func namesWithControlCharactersOrInvalidUTF8AreRefusedAndNothingIsStored() throws {
        let multipart = with(["Content-Type": "multipart/form-data; boundary=XyZzY-boundary"])
        for name in ["a\u{0}b", "line\nbreak", "carriage\rreturn", "bell\u{7}", "c1\u{85}x"] {
            let form = Self.multipart([("name", nil, Array(name.utf8)), ("file", "d.jsonl", Self.file)])
            let response = env.sendStreamed("POST", "/api/datasets", headers: multipart, body: form)
            #expect(response.status.code == 400, "\(name.debugDescription)")
            #expect(response.text.contains("name must not contain control characters"), "\(response.text)")
            let raw = env.sendStreamed(
                "POST", "/api/datasets", query: "name=" + name.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!,
                headers: with(Self.jsonl), body: Self.file)
            #expect(raw.status.code == 400, "\(name.debugDescription) in the query")
        }
        let invalid = Self.multipart([("name", nil, [0x61, 0xFF, 0x62]), ("file", "d.jsonl", Self.file)])
        let refused = env.sendStreamed("POST", "/api/datasets", headers: multipart, body: invalid)
        #expect(refused.status.code == 400)
        #expect(refused.text.contains("the name field is not valid UTF-8"), "\(refused.text)")
        let badFormat = Self.multipart([("format", nil, [0xC3, 0x28]), ("file", "d.jsonl", Self.file)])
        #expect(env.sendStreamed("POST", "/api/datasets/validate", headers: multipart, body: badFormat).status.code == 400)
        #expect(try env.get("/api/datasets", headers: headers).object()["total"] == .int(0))
        #expect(filesOnDisk().isEmpty)
    }

    @Test func validateRefusesTwoFilePartsAsUploadDoes() throws {
        let form = Self.multipart([("file", "a.jsonl", Self.file), ("file", "b.jsonl", Self.file)])
        let headers = with(["Content-Type": "multipart/form-data; boundary=XyZzY-boundary"])
        for path in ["/api/datasets/validate", "/api/datasets"] {
            let response = env.sendStreamed("POST", path, query: path.hasSuffix("validate") ? "" : "name=two", headers: headers, body: form)
            #expect(response.status.code == 400, "\(path)")
            #expect(response.text.contains("only one file part is accepted"), "\(path): \(response.text)")
        }
    }
}
