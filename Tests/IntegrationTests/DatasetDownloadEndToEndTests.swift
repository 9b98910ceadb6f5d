import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Dataset downloads through real nginx and the pool: the pool authorizes
/// and answers with `X-Accel-Redirect`, nginx sends the stored file with
/// ranges; the internal location and partial files are out of reach.
@Suite("dataset downloads through nginx", .serialized)
struct DatasetDownloadEndToEndTests {
    static let jsonl = "application/x-ndjson"

    @Test func downloadsRangesConditionsAndTheJobToken() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = try cluster.createKey(user: user, scopes: "datasets,training")
        let client = cluster.client()
        let file = DatasetEndpointsTests.dataset(megabytes: 0.3)
        let sha256 = DatasetEndpointsTests.hex(file)
        let uploaded = try client.send("POST", "/api/datasets?name=chat%22v1", headers: ["X-API-Key": key, "Content-Type": Self.jsonl], body: file)
        #expect(uploaded.status == 201)
        let id = try #require(uploaded.json["id"] as? String)
        let content = "/api/datasets/\(id)/content"

        // What nginx's workers may touch: pass through the directories, read the stored file; .partial is the pool's alone.
        let datasets = cluster.directory + "/data/datasets"
        let nginxGroup = getuid() == 0 ? getgrnam("www-data")?.pointee.gr_gid : getgid()
        for (path, mode) in [(datasets, 0o710), (datasets + "/.partial", 0o700), ("\(datasets)/\(id).jsonl", 0o640)] as [(String, mode_t)] {
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == mode, "\(path)")
            #expect(info.st_gid == nginxGroup, "\(path)")
        }

        let whole = try client.get(content, headers: ["X-API-Key": key])
        #expect(whole.status == 200)
        #expect(whole.body == file)
        #expect(DatasetEndpointsTests.hex(whole.body) == sha256)
        #expect(whole.header("Content-Length") == String(file.count))
        #expect(whole.header("X-Accel-Redirect") == nil)
        #expect(whole.header("ETag") == "\"\(sha256)\"")
        #expect(whole.header("Content-Type") == Self.jsonl)
        #expect(whole.header("Content-Disposition") == "attachment; filename=\"chat_v1.jsonl\"")

        let range = try client.get(content, headers: ["X-API-Key": key, "Range": "bytes=100-1099"])
        #expect(range.status == 206)
        #expect(range.body == Array(file[100...1099]))
        #expect(range.header("Content-Range") == "bytes 100-1099/\(file.count)")
        #expect(range.header("ETag") == "\"\(sha256)\"")
        let pastTheEnd = try client.get(content, headers: ["X-API-Key": key, "Range": "bytes=\(file.count)-\(file.count + 10)"])
        #expect(pastTheEnd.status == 416)
        #expect(pastTheEnd.header("Content-Range") == "bytes */\(file.count)")
        #expect(pastTheEnd.json["code"] as? String == "RANGE_NOT_SATISFIABLE")

        let notModified = try client.get(content, headers: ["X-API-Key": key, "If-None-Match": "\"\(sha256)\""])
        #expect(notModified.status == 304)
        #expect(notModified.body.isEmpty)
        #expect(notModified.header("Content-Length") == nil)
        #expect(notModified.header("ETag") == "\"\(sha256)\"")
        #expect(try client.get(content, headers: ["X-API-Key": key, "If-None-Match": "\"stale\""]).status == 200)

        // The trainer reads its job's dataset with the job's token.
        let job = try client.postJSON("/api/training/jobs", #"{"model_name":"m","dataset_id":"\#(id)"}"#, headers: ["X-API-Key": key])
        #expect(job.status == 201)
        let jobID = try #require(job.json["id"] as? String)
        let token = try #require((job.json["data"] as? [String: Any])?["job_token"] as? String)
        let viaJob = try client.get("/api/training/jobs/\(jobID)/dataset", headers: ["Authorization": "Bearer \(token)"])
        #expect(viaJob.status == 200)
        #expect(viaJob.body == file)
        #expect(viaJob.header("X-Accel-Redirect") == nil)
        #expect(try client.get(content, headers: ["Authorization": "Bearer \(token)"]).status == 401)

        // Deleted: the record is gone, so the next request is a 404 (the job's is a 409).
        #expect(try client.send("POST", "/api/training/jobs/\(jobID)/cancel", headers: ["X-API-Key": key]).status == 200)
        #expect(try client.send("DELETE", "/api/datasets/\(id)", headers: ["X-API-Key": key]).status == 200)
        #expect(try client.get(content, headers: ["X-API-Key": key]).status == 404)
        let gone = try client.get("/api/training/jobs/\(jobID)/dataset", headers: ["Authorization": "Bearer \(token)"])
        #expect(gone.status == 409)
        #expect(gone.json["code"] as? String == "DATASET_DELETED")
    }

    @Test func theInternalLocationAndPartialFilesAreOutOfReach() throws {
        let cluster = try TestCluster(workers: 1, threads: 2, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "datasets")
        let client = cluster.client()
        let file = DatasetEndpointsTests.dataset(megabytes: 0.01)
        let uploaded = try client.send("POST", "/api/datasets?name=kept", headers: ["X-API-Key": key, "Content-Type": Self.jsonl], body: file)
        let id = try #require(uploaded.json["id"] as? String)
        // A partial file as an upload in progress leaves it, named like a stored one.
        let partialID = UUID().uuidString.lowercased()
        let partials = cluster.directory + "/data/datasets/.partial"
        for name in ["\(partialID).jsonl", "1-\(partialID).part"] {
            #expect(FileManager.default.createFile(atPath: "\(partials)/\(name)", contents: Data(file)))
        }

        let guesses = [
            "/_ftapi/datasets/\(id).jsonl", "/_ftapi/datasets/\(id.uppercased()).jsonl", "/_ftapi/datasets/.partial/\(partialID).jsonl",
            "/_ftapi/datasets/.partial/1-\(partialID).part", "/_ftapi/datasets/%2epartial/\(partialID).jsonl",
            "/_ftapi/datasets/.partial%2F\(partialID).jsonl", "/_ftapi/datasets/../ftapi.db", "/_ftapi/", "/api/datasets/.partial/\(partialID).jsonl",
            "/api/datasets/\(partialID)/content",
        ]
        for path in guesses {
            let response = try cluster.client().get(path, headers: ["X-API-Key": key])
            #expect(response.status == 404, "\(path)")
            #expect(response.json["code"] as? String == "NOT_FOUND", "\(path)")
            #expect(response.body != file, "\(path)")
            #expect(response.header("X-Accel-Redirect") == nil, "\(path)")
        }
        #expect(try client.get("/api/datasets/\(id)/content", headers: ["X-API-Key": key]).body == file)
    }

    @Test func aDeleteDuringADownloadLetsItFinish() throws {
        let cluster = try TestCluster(workers: 1, threads: 2, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "datasets")
        let file = DatasetEndpointsTests.dataset(megabytes: 8)
        let uploaded = try cluster.client().send(
            "POST", "/api/datasets?name=big", headers: ["X-API-Key": key, "Content-Type": Self.jsonl], body: file)
        let id = try #require(uploaded.json["id"] as? String)

        // Read the head and a first piece only, so that nginx still holds the file open when the delete comes.
        let download = try SlowReader(port: cluster.port, request: "GET /api/datasets/\(id)/content HTTP/1.1\r\nHost: x\r\nX-API-Key: \(key)\r\n\r\n")
        var received = try download.read(atLeast: 64 * 1024)
        #expect(try cluster.client().send("DELETE", "/api/datasets/\(id)", headers: ["X-API-Key": key]).status == 200)
        #expect(!FileManager.default.fileExists(atPath: cluster.directory + "/data/datasets/\(id).jsonl"))
        #expect(try cluster.client().get("/api/datasets/\(id)/content", headers: ["X-API-Key": key]).status == 404)

        let headEnd = try #require(received.firstRange(of: Array("\r\n\r\n".utf8)))
        #expect(String(decoding: received[..<headEnd.lowerBound], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        received += try download.read(atLeast: headEnd.upperBound + file.count - received.count)
        #expect(Array(received[headEnd.upperBound...]) == file)
    }

    @Test func slowDownloadsHoldNoPoolThread() throws {
        // Two accept threads in all: were the pool sending the bytes, the third slow download would wait.
        let cluster = try TestCluster(workers: 1, threads: 2, extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let key = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "datasets")
        let file = DatasetEndpointsTests.dataset(megabytes: 2)
        let uploaded = try cluster.client().send(
            "POST", "/api/datasets?name=slow", headers: ["X-API-Key": key, "Content-Type": Self.jsonl], body: file)
        let id = try #require(uploaded.json["id"] as? String)

        let request = "GET /api/datasets/\(id)/content HTTP/1.1\r\nHost: x\r\nX-API-Key: \(key)\r\n\r\n"
        let downloads = try (0..<64).map { _ in try SlowReader(port: cluster.port, request: request) }
        var heads = try downloads.map { try $0.read(atLeast: 32 * 1024) }
        let started = ContinuousClock.now
        let client = cluster.client()
        for _ in 0..<20 { #expect(try client.get("/api/datasets/\(id)", headers: ["X-API-Key": key]).status == 200) }
        #expect(ContinuousClock.now - started < .seconds(5))

        for (index, download) in downloads.enumerated() {
            let headEnd = try #require(heads[index].firstRange(of: Array("\r\n\r\n".utf8)))
            heads[index] += try download.read(atLeast: headEnd.upperBound + file.count - heads[index].count)
            #expect(heads[index].count == headEnd.upperBound + file.count)
            #expect(DatasetEndpointsTests.hex(Array(heads[index][headEnd.upperBound...])) == DatasetEndpointsTests.hex(file))
        }
    }
}

/// A client socket read a piece at a time, for downloads the test interrupts.
private final class SlowReader {
    private let fd: Int32

    init(port: UInt16, request: String) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        // A small receive buffer keeps most of the file on nginx's side until the test reads it.
        var size: Int32 = 16 * 1024
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestClientError.connect(errno) }
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else { throw TestClientError.closed }
    }

    deinit { close(fd) }

    /// Reads until at least `count` bytes have come (fewer only if the peer closes).
    func read(atLeast count: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while result.count < count {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, count - result.count)) }
            guard got > 0 else { throw TestClientError.closed }
            result += chunk[..<got]
        }
        return result
    }
}
