import API
import Foundation
import HTTPCore
import Testing

/// The OpenAPI document stays true to the router.
@Suite struct OpenAPITests {
    @Test func theServedDocumentHasEveryPathMethodAndScheme() throws {
        let env = try TestEnvironment()
        let response = env.get("/api/openapi.json")
        #expect(response.status.code == 200)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        for route in env.app.router.routes {
            let path = route.pattern.replacingOccurrences(of: ":uuid", with: "").replacingOccurrences(of: ":string", with: "")
            #expect(paths[path]?[route.method.lowercased()] != nil, "\(route.method) \(path)")
        }
        let components = try #require(document["components"] as? [String: Any])
        let schemes = try #require(components["securitySchemes"] as? [String: Any])
        #expect(Set(schemes.keys) == ["apiKey", "workspaceApiKey", "sessionToken"])
        let schemas = try #require(components["schemas"] as? [String: Any])
        #expect(schemas["Error"] != nil && schemas["TrainingJob"] != nil)
    }

    /// Every operation lists the errors it can answer: 404 where a path names a resource, 400 where it
    /// takes query parameters; the bounds the server enforces are the document's.
    @Test func theDocumentListsTheErrorsAndBoundsTheServerHas() throws {
        let env = try TestEnvironment()
        let document = try #require(try JSONSerialization.jsonObject(with: Data(env.get("/api/openapi.json").body)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: [String: Any]]])
        for (path, methods) in paths {
            for (method, operation) in methods {
                let responses = try #require(operation["responses"] as? [String: Any])
                let parameters = operation["parameters"] as? [[String: Any]] ?? []
                if path.contains("{") { #expect(responses["404"] != nil, "\(method) \(path) lacks 404") }
                #expect(responses["431"] != nil, "\(method) \(path) lacks 431")
                if !(operation["security"] as? [Any] ?? []).isEmpty { #expect(responses["503"] != nil, "\(method) \(path) lacks 503") }
                if parameters.contains(where: { $0["in"] as? String == "query" }) {
                    #expect(responses["400"] != nil, "\(method) \(path) lacks 400")
                }
            }
        }
        func parameter(_ path: String, _ name: String) -> [String: Any]? {
            (paths[path]?["get"]?["parameters"] as? [[String: Any]])?.first { $0["name"] as? String == name }
        }
        #expect(parameter("/api/models/search", "query")?["required"] as? Bool == true)
        // Links (the stateful phase of schemathesis follows them) name operations that exist.
        let operationIDs = Set(paths.values.flatMap { $0.values.compactMap { $0["operationId"] as? String } })
        var linked = 0
        for operation in paths.values.flatMap(\.values) {
            for case let response as [String: Any] in (operation["responses"] as? [String: Any] ?? [:]).values {
                for case let link as [String: Any] in (response["links"] as? [String: Any] ?? [:]).values {
                    #expect(operationIDs.contains(link["operationId"] as? String ?? ""), "\(link)")
                    linked += 1
                }
            }
        }
        #expect(linked >= 11)
        for path in ["/api/training/jobs", "/api/datasets", "/api/user/api-keys", "/api/training/jobs/{id}/metrics"] {
            let schema = parameter(path, "offset")?["schema"] as? [String: Any]
            #expect(schema?["maximum"] as? Int == Int(Int32.max), "\(path)")
        }
    }

    /// The document is valid OpenAPI 3.1 by an independent validator
    /// (openapi-spec-validator, installed by deploy/test.sh).
    @Test func theDocumentPassesOpenAPISpecValidator() throws {
        let env = try TestEnvironment()
        let path = env.directory + "/openapi.json"
        try Data(env.get("/api/openapi.json").body).write(to: URL(fileURLWithPath: path))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            "import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')", path,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
    }
}
