import Crypto
import Foundation
import HTTPCore
import JSON
import Testing

@testable import API

/// FineTune Lab's log lines and the errors found in them, in memory.
@Suite struct FineTuneLabLogTests {
    private func append(_ user: FineTuneLabUser, _ trainer: [String: String], _ lines: [String], job: String = "run") throws -> Response {
        let body = JSONValue.object(["logs": .array(lines.map { .string($0) })]).jsonText
        return user.send("POST", "/api/training/local/\(job)/logs", body, headers: trainer)
    }

    @Test func linesAreAppendedAndPagedFromEitherEnd() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (id, trainer) = try user.job("run")
        let first = try append(user, trainer, (1...5).map { "line \($0)" })
        #expect(first.status.code == 200, "\(first.text)")
        #expect(try first.object() == ["success": .bool(true), "logs_appended": .int(5), "total_logs": .int(5)])
        #expect(try append(user, trainer, []).object() == ["success": .bool(true), "logs_appended": .int(0), "total_logs": .int(5)])
        let page = try user.get("/api/training/local/run/logs", query: "limit=2&offset=1")
        #expect(page["logs"] == .array([.string("line 2"), .string("line 3")]))
        #expect(page["total_lines"] == .int(5) && page["offset"] == .int(1) && page["limit"] == .int(2))
        let tail = try user.get("/api/training/local/\(id)/logs", query: "offset=-2")
        #expect(tail["logs"] == .array([.string("line 4"), .string("line 5")]) && tail["offset"] == .int(3) && tail["limit"] == .int(100))
        #expect(try user.get("/api/training/local/run/logs", query: "offset=-99999&limit=1")["logs"] == .array([.string("line 1")]))
        for query in ["limit=0", "limit=1001", "offset=x"] {
            #expect(env.get("/api/training/local/run/logs", query: query, headers: user.key).status.code == 400, "\(query)")
        }
    }

    @Test func badBatchesAre400AndAJobKeepsItsLast10000Lines() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (_, trainer) = try user.job("run")
        #expect(user.send("POST", "/api/training/local/run/logs", #"{"logs":["ok",5]}"#, headers: trainer).status.code == 400)
        #expect(user.send("POST", "/api/training/local/run/logs", #"{"logs":"ok"}"#, headers: trainer).status.code == 400)
        #expect(try append(user, trainer, [String(repeating: "x", count: 16 * 1024 + 1)]).status.code == 400)
        #expect(try append(user, trainer, Array(repeating: "x", count: 1001)).status.code == 400)
        #expect(try append(user, trainer, ["nul \u{0}"]).status.code == 400)
        #expect(try user.get("/api/training/local/run/logs")["total_lines"] == .int(0), "nothing was stored")
        #expect(try append(user, trainer, [String(repeating: "é", count: 8 * 1024)]).status.code == 200, "16 KiB exactly")

        for batch in 0..<11 {
            let response = try append(user, trainer, (0..<1000).map { "b\(batch) l\($0)" })
            #expect(response.status.code == 200)
        }
        let last = try user.get("/api/training/local/run/logs", query: "offset=-1")
        #expect(last["total_lines"] == .int(10_000) && last["logs"] == .array([.string("b10 l999")]))
        // 11,001 lines in all: the first 1,001 (the long one and batch 0) are gone.
        #expect(try user.get("/api/training/local/run/logs", query: "limit=1")["logs"] == .array([.string("b1 l0")]))
    }

    @Test func errorsAreDerivedFromTheLines() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (_, trainer) = try user.job("run")
        let lines = [
            "[2025-12-19 10:04:05] [trainer] [INFO] [train] step 1 done",
            "[2025-12-19 10:04:06] [trainer] [WARNING] [train] Loss spike at step 120",
            "[2025-12-19 10:04:07] [trainer] [ERROR] CUDA out of memory",
            "[2025-12-19 10:04:08] [trainer] [WARNING] [train] Loss spike at step 121",
            "ERROR: something broke",
            "Traceback (most recent call last):",
            "  File \"/app/train.py\", line 42, in main",
            "    trainer.train()",
            "  File \"/app/trainer.py\", line 7, in train",
            "    raise ValueError(\"bad batch\")",
            "ValueError: bad batch",
            "done",
        ]
        #expect(try append(user, trainer, lines).status.code == 200)
        #expect(
            user.send("PATCH", "/api/training/local/run/status", #"{"status":"failed","error":"bad batch"}"#, headers: trainer).status.code == 200)
        let report = try user.get("/api/training/local/run/errors")
        #expect(report["job_id"] == .string("run") && report["error_summary"] == .string("bad batch"))
        #expect(report["error_count"] == .int(5) && report["unique_error_count"] == .int(4))
        let errors = try #require(report["errors"]?.arrayValue?.compactMap { $0.dictionary })
        #expect(
            errors.map { $0["message"] }
                == ["ValueError: bad batch", "ERROR: something broke", "Loss spike at step 121", "CUDA out of memory"].map { .string($0) })
        #expect(errors[0]["phase"] == .string("raw") && errors[0]["level"] == .string("error") && errors[0]["timestamp"] == .string(""))
        #expect(errors[2]["count"] == .int(2) && errors[2]["level"] == .string("warning") && errors[2]["phase"] == .string("train"))
        #expect(errors[2]["timestamp"] == .string("2025-12-19 10:04:08"))
        #expect(errors[3]["phase"] == .string("general") && errors[3]["count"] == .int(1))
        #expect(errors[2]["dedupe_key"] == .string(Self.md5Prefix("train:loss spike at step n")))
        #expect(errors[3]["dedupe_key"] == .string(Self.md5Prefix("general:cuda out of memory")))

        let traceback = try #require(report["traceback"]?.dictionary)
        #expect(traceback["exception_type"] == .string("ValueError") && traceback["exception_message"] == .string("bad batch"))
        #expect(traceback["raw"] == .string(lines[5...10].joined(separator: "\n")))
        let frames = try #require(traceback["frames"]?.arrayValue?.compactMap { $0.dictionary })
        #expect(frames.count == 2)
        #expect(frames[0] == ["file": .string("/app/train.py"), "line": .int(42), "function": .string("main"), "code": .string("trainer.train()")])
        #expect(frames[1]["code"] == .string(#"raise ValueError("bad batch")"#))
    }

    @Test func aLogWithoutErrorsHasNone() throws {
        let env = try TestEnvironment()
        let user = try FineTuneLabUser(env)
        let (_, trainer) = try user.job("run")
        #expect(try append(user, trainer, ["[2025-12-19 10:04:05] [trainer] [INFO] all good", "plain line"]).status.code == 200)
        let report = try user.get("/api/training/local/run/errors")
        #expect(report["errors"] == .array([]) && report["traceback"] == .null && report["error_count"] == .int(0))
        #expect(report["error_summary"] == .null)
    }

    @Test func dedupeKeysTakeTheFirst150CharactersThenNormaliseTheirDigits() {
        let long = String(repeating: "a", count: 145) + "123456789" + "tail"
        let key = LogErrorReport.dedupeKey(phase: "Raw", message: long)
        #expect(key == Self.md5Prefix("raw:" + String(repeating: "a", count: 145) + "n"))
        #expect(
            LogErrorReport.dedupeKey(phase: "x", message: String(repeating: "é", count: 150) + "ignored")
                == Self.md5Prefix("x:" + String(repeating: "é", count: 150)))
        #expect(LogErrorReport.dedupeKey(phase: "x", message: "step 1") == LogErrorReport.dedupeKey(phase: "x", message: "step 99"))
        #expect(LogErrorReport.dedupeKey(phase: "x", message: "step 1") != LogErrorReport.dedupeKey(phase: "y", message: "step 1"))
    }

    static func md5Prefix(_ text: String) -> String {
        String(Insecure.MD5.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined().prefix(12))
    }
}
