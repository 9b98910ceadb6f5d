import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `Tests/FakeHub/fake_hub.py` on an ephemeral loopback port, for the
/// duration of a test.
final class FakeHub: @unchecked Sendable {
    // @unchecked: immutable after init but for the process, stopped once.
    let port: UInt16
    private let process: Process

    init(slowSeconds: Double = 3) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestCluster.repository.appendingPathComponent("Tests/FakeHub/fake_hub.py").path]
        process.environment = ProcessInfo.processInfo.environment.merging(["SLOW_SECONDS": "\(slowSeconds)"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = UInt16(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            throw TestClientError.malformed("fake_hub.py printed no port")
        }
        self.port = port
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// The `/api/models` requests the Hub has seen: path with query, and Authorization.
    func requests() throws -> [(path: String, authorization: String?)] {
        let result = try HTTPTestClient(port: port).get("/_requests")
        let list = (try JSONSerialization.jsonObject(with: Data(result.body))) as? [[String: Any]] ?? []
        return list.map { ($0["path"] as? String ?? "", $0["authorization"] as? String) }
    }

    func stop() {
        // SIGKILL: a child of the test process may inherit a mask that blocks SIGTERM.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
