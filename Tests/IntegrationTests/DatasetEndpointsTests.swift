import Crypto
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Dataset validation and upload through nginx (request buffering off) and
/// the pool: both encodings, chunked bodies, both 413s, and uploads cut off
/// by the client or by a killed worker leaving nothing behind.
@Suite("datasets through nginx", .serialized)
struct DatasetEndpointsTests {
    /// About `megabytes` MB of chatml lines, each different.
    static func dataset(megabytes: Double) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = 0
        while Double(bytes.count) < megabytes * 1_000_000 {
            let line =
                #"{"messages":[{"role":"system","content":"You are helpful."},"#
                + #"{"role":"user","content":"Question \#(index): what is \#(index) squared, and why?"},"#
                + #"{"role":"assistant","content":"It is \#(index * index), because multiplying \#(index) by itself gives that."}]}"#
            bytes += Array(line.utf8) + [0x0A]
            index += 1
        }
        return bytes
    }

    static func hex(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }

    static let jsonl = "application/x-ndjson"

    func storedFiles(_ cluster: TestCluster) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cluster.directory + "/data/datasets")) ?? []).filter { $0 != ".partial" }.sorted()
    }

    func partialFiles(_ cluster: TestCluster) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: cluster.directory + "/data/datasets/.partial")) ?? []
    }

    @Test func uploadValidateListAndDeleteEndToEnd() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"], environment: ["FTAPI_DATASET_MAX_BYTES": String(8 << 20)])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = try cluster.createKey(user: user, scopes: "datasets,training")
        let headers = ["X-API-Key": key, "Content-Type": Self.jsonl]
        let client = cluster.client()
        let file = Self.dataset(megabytes: 3)
        let lines = file.filter { $0 == 0x0A }.count

        // Validation, with a length and chunked.
        let validated = try client.send("POST", "/api/datasets/validate", headers: headers, body: file)
        #expect(validated.status == 200)
        #expect(validated.json["valid"] as? Bool == true)
        #expect(validated.json["total_examples"] as? Int == lines)
        #expect(validated.json["format"] as? String == "chatml")
        let chunked = try client.sendChunked(
            "POST", "/api/datasets/validate", headers: headers, body: file + Array("{oops\n".utf8), chunkBytes: 100_000)
        #expect(chunked.status == 200)
        #expect(chunked.json["valid"] as? Bool == false)
        #expect((chunked.json["errors"] as? [[String: Any]])?.first?["line"] as? Int == lines + 1)
        // Refused before the body is read: nginx may close that connection afterwards, so use one of its own.
        #expect(
            try cluster.client().send("POST", "/api/datasets/validate", headers: ["X-API-Key": key, "Content-Type": "text/csv"], body: file).status
                == 415)
        #expect(try client.send("POST", "/api/datasets/validate", headers: headers).status == 400)

        // Raw upload with a length: the stored bytes, their hash and size.
        let raw = try client.send("POST", "/api/datasets?name=raw&format=chatml", headers: headers, body: file)
        #expect(raw.status == 201)
        let data = try #require(raw.json["data"] as? [String: Any])
        let rawID = try #require(raw.json["id"] as? String)
        #expect(data["sha256"] as? String == Self.hex(file))
        #expect(data["size_bytes"] as? Int == file.count)
        #expect(data["total_examples"] as? Int == lines)
        let onDisk = try Data(contentsOf: URL(fileURLWithPath: cluster.directory + "/data/datasets/\(rawID).jsonl"))
        #expect(Array(onDisk) == file)

        // Chunked raw upload, and multipart.
        let viaChunks = try client.sendChunked("POST", "/api/datasets?name=chunked", headers: headers, body: file, chunkBytes: 50_000)
        #expect(viaChunks.status == 201)
        #expect((viaChunks.json["data"] as? [String: Any])?["sha256"] as? String == Self.hex(file))
        let boundary = "----ftapi-test-\(UUID().uuidString)"
        var form = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nform\r\n".utf8)
        form += Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"chats.jsonl\"\r\nContent-Type: application/x-ndjson\r\n\r\n"
                .utf8)
        form += file + Array("\r\n--\(boundary)--\r\n".utf8)
        let viaForm = try client.send(
            "POST", "/api/datasets", headers: ["X-API-Key": key, "Content-Type": "multipart/form-data; boundary=\(boundary)"], body: form)
        #expect(viaForm.status == 201)
        #expect((viaForm.json["data"] as? [String: Any])?["sha256"] as? String == Self.hex(file))
        #expect((viaForm.json["data"] as? [String: Any])?["size_bytes"] as? Int == file.count)

        // Conflicts and refusals leave no files.
        let duplicate = try cluster.client().send("POST", "/api/datasets?name=raw", headers: headers, body: file)
        #expect(duplicate.status == 409)
        let invalid = try client.send("POST", "/api/datasets?name=bad", headers: headers, body: Array("{\"text\":\"\"}\n".utf8))
        #expect(invalid.status == 400)
        #expect(invalid.json["code"] as? String == "INVALID_DATASET")
        #expect((invalid.json["details"] as? [String: Any])?["error_count"] as? Int == 1)

        // Too large: nginx refuses a declared length past its 100m; the pool a chunked body past its 8 MiB.
        let nginxRefusal = cluster.client()
        try nginxRefusal.write(
            Array(
                ("POST /api/datasets/validate HTTP/1.1\r\nHost: x\r\nX-API-Key: \(key)\r\n"
                    + "Content-Type: \(Self.jsonl)\r\nContent-Length: \(200 << 20)\r\n\r\n").utf8))
        let declared = try nginxRefusal.receive()
        #expect(declared.status == 413)
        #expect(declared.json["code"] as? String == "PAYLOAD_TOO_LARGE")
        nginxRefusal.close()
        let poolRefusal = cluster.client()
        let tooLarge = try poolRefusal.sendChunked(
            "POST", "/api/datasets?name=huge", headers: headers, body: Self.dataset(megabytes: 9), chunkBytes: 256 * 1024)
        #expect(tooLarge.status == 413)
        #expect(tooLarge.json["code"] as? String == "PAYLOAD_TOO_LARGE")

        try cluster.waitFor("partial files to go", timeout: 10) { partialFiles(cluster).isEmpty }
        #expect(storedFiles(cluster).count == 3)

        // List, a job that holds a dataset, delete.
        let list = try client.get("/api/datasets", headers: ["X-API-Key": key])
        #expect(list.json["total"] as? Int == 3)
        let job = try client.postJSON("/api/training/jobs", #"{"model_name":"m","dataset_id":"\#(rawID)"}"#, headers: ["X-API-Key": key])
        #expect(job.status == 201)
        #expect(try client.send("DELETE", "/api/datasets/\(rawID)", headers: ["X-API-Key": key]).status == 409)
        let jobID = try #require(job.json["id"] as? String)
        #expect(try client.send("POST", "/api/training/jobs/\(jobID)/cancel", headers: ["X-API-Key": key]).status == 200)
        #expect(try client.send("DELETE", "/api/datasets/\(rawID)", headers: ["X-API-Key": key]).status == 200)
        #expect(try client.get("/api/datasets/\(rawID)", headers: ["X-API-Key": key]).status == 404)
        #expect(storedFiles(cluster).count == 2 && !storedFiles(cluster).contains("\(rawID).jsonl"))
    }

    @Test func anUploadCutOffByTheClientOrByAKilledWorkerLeavesNothing() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = try cluster.createKey(user: user, scopes: "datasets")
        let part = Self.dataset(megabytes: 2)
        let head = Array(
            ("POST /api/datasets?name=cut HTTP/1.1\r\nHost: x\r\nX-API-Key: \(key)\r\n"
                + "Content-Type: \(Self.jsonl)\r\nContent-Length: \(50 << 20)\r\n\r\n").utf8)

        // The client goes away midway.
        let leaving = cluster.client()
        try leaving.write(head + part)
        try cluster.waitFor("the upload to start writing", timeout: 10) { !partialFiles(cluster).isEmpty }
        leaving.close()
        try cluster.waitFor("the partial file to be removed", timeout: 10) { partialFiles(cluster).isEmpty }

        // The worker serving the upload is killed midway: the master starts a
        // new one, which removes the dead worker's partial file.
        let victimClient = cluster.client()
        try victimClient.write(head + part)
        try cluster.waitFor("the upload to start writing", timeout: 10) { !partialFiles(cluster).isEmpty }
        let partial = try #require(partialFiles(cluster).first)
        // `<host>@<pid>-<id>.part`
        let writer = try #require(pid_t(partial.split(separator: "@").last?.split(separator: "-").first ?? ""))
        #expect(cluster.workerPIDs().contains(writer))
        kill(writer, SIGKILL)
        try cluster.waitFor("a new worker and no partial file", timeout: 15) {
            partialFiles(cluster).isEmpty && cluster.workerPIDs().count == cluster.workers && !cluster.workerPIDs().contains(writer)
        }
        victimClient.close()

        let client = cluster.client()
        let list = try client.get("/api/datasets", headers: ["X-API-Key": key])
        #expect(list.json["total"] as? Int == 0)
        #expect(storedFiles(cluster).isEmpty)
        // The name is still free, and uploads work on the new worker.
        let retried = try client.send("POST", "/api/datasets?name=cut", headers: ["X-API-Key": key, "Content-Type": Self.jsonl], body: part)
        #expect(retried.status == 201)
        #expect(storedFiles(cluster).count == 1)
    }
}
