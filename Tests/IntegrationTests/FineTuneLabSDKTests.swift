import Foundation
import Testing

/// FineTune Lab's own Python SDK (finetune-lab 0.6.0, installed by deploy/test.sh) and its
/// trainer's requests against real nginx and the real pool: `Tests/FineTuneLabSDK/sdk_session.py`.
@Suite("FineTune Lab SDK through nginx", .serialized)
struct FineTuneLabSDKTests {
    @Test func theSDKRunsASessionUnchanged() throws {
        let cluster = try TestCluster(extraArguments: ["--rate-limit", "0"])
        defer { cluster.stop() }
        let user = UUID().uuidString.lowercased()
        let key = try cluster.createKey(user: user, scopes: "training")
        let otherKey = try cluster.createKey(user: UUID().uuidString.lowercased(), scopes: "training")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestCluster.repository.appendingPathComponent("Tests/FineTuneLabSDK/sdk_session.py").path]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "FTAPI_URL": "http://127.0.0.1:\(cluster.port)", "FTAPI_KEY": key, "FTAPI_USER": user, "FTAPI_OTHER_KEY": otherKey,
            // The SDK's requests must reach this nginx, whatever proxy the machine has.
            "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
        ]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.hasSuffix("OK\n"), "\(text)")
    }
}
