import API
import Domain
import Foundation
import HTTPCore
import Testing

@Suite("Authentication with API keys, header precedence and scopes")
struct APIKeyAuthTests {
    @Test func noCredentialIs401MissingHeader() throws {
        let env = try TestEnvironment()
        let response = env.stats([:])
        #expect(response.status.code == 401)
        #expect(try response.object() == errorBody("Missing authorization header"))
    }

    @Test func validKeyIsAcceptedInEveryHeader() throws {
        let env = try TestEnvironment()
        let (key, _) = try env.insertKey(userID: newUserID(), scopes: [.training])
        #expect(env.stats(["X-API-Key": key]).status.code == 200)
        #expect(env.stats(["X-Workspace-API-Key": key]).status.code == 200)
        #expect(env.stats(["Authorization": "Bearer " + key]).status.code == 200)
        // Header names are case-insensitive.
        #expect(env.stats(["x-api-key": key]).status.code == 200)
        #expect(env.stats(["authorization": "bearer " + key]).status.code == 200)
    }

    @Test(arguments: [
        "wak_",  // too short
        "wak_abc",
        "wak_" + String(repeating: "a", count: 31),
        "wak_" + String(repeating: "a", count: 33),
        "wak_" + String(repeating: "a", count: 31) + "-",  // not base62
        "xyz_" + String(repeating: "a", count: 32),  // wrong prefix
    ])
    func malformedKeyIs401(_ candidate: String) throws {
        let env = try TestEnvironment()
        let response = env.stats(["X-API-Key": candidate])
        #expect(response.status.code == 401)
        #expect(try response.object() == errorBody("Unauthorized"))
    }

    @Test func unknownKeyIs401() throws {
        let env = try TestEnvironment()
        try env.insertKey(userID: newUserID())
        for headers in [
            ["X-API-Key": APIKeyFormat.generate()], ["X-Workspace-API-Key": APIKeyFormat.generate()],
            ["Authorization": "Bearer " + APIKeyFormat.generate()],
        ] {
            let response = env.stats(headers)
            #expect(response.status.code == 401)
            #expect(try response.object() == errorBody("Unauthorized"))
        }
    }

    @Test func revokedKeyIs401() throws {
        let env = try TestEnvironment()
        let (key, _) = try env.insertKey(userID: newUserID(), revoked: true)
        let response = env.stats(["X-API-Key": key])
        #expect(response.status.code == 401)
        #expect(try response.object() == errorBody("Unauthorized"))
    }

    @Test func nonBearerAuthorizationIs401() throws {
        let env = try TestEnvironment()
        let (key, _) = try env.insertKey(userID: newUserID())
        for value in ["Basic " + key, key, "Bearer", "Token " + key] {
            let response = env.stats(["Authorization": value])
            #expect(response.status.code == 401, "\(value)")
            #expect(try response.object() == errorBody("Unauthorized"))
        }
    }

    // MARK: Header precedence: X-API-Key > X-Workspace-API-Key > Authorization

    @Test func xAPIKeyWinsOverWorkspaceKey() throws {
        let env = try TestEnvironment()
        let (valid, _) = try env.insertKey(userID: newUserID())
        let invalid = APIKeyFormat.generate()
        #expect(env.stats(["X-API-Key": invalid, "X-Workspace-API-Key": valid]).status.code == 401)
        #expect(env.stats(["X-API-Key": valid, "X-Workspace-API-Key": invalid]).status.code == 200)
    }

    @Test func workspaceKeyWinsOverAuthorization() throws {
        let env = try TestEnvironment()
        let (valid, _) = try env.insertKey(userID: newUserID())
        let invalid = APIKeyFormat.generate()
        #expect(env.stats(["X-Workspace-API-Key": invalid, "Authorization": "Bearer " + valid]).status.code == 401)
        #expect(env.stats(["X-Workspace-API-Key": valid, "Authorization": "Bearer " + invalid]).status.code == 200)
    }

    @Test func xAPIKeyWinsOverAuthorization() throws {
        let env = try TestEnvironment()
        let (valid, _) = try env.insertKey(userID: newUserID())
        let invalid = APIKeyFormat.generate()
        #expect(env.stats(["X-API-Key": invalid, "Authorization": "Bearer " + valid]).status.code == 401)
        #expect(env.stats(["X-API-Key": valid, "Authorization": "Bearer " + invalid]).status.code == 200)
        // A valid session token does not rescue an invalid X-API-Key either.
        let session = TestEnvironment.sessionToken(userID: newUserID())
        #expect(env.stats(["X-API-Key": invalid, "Authorization": "Bearer " + session]).status.code == 401)
    }

    // MARK: Scopes

    @Test func keyWithoutTrainingScopeIs403() throws {
        let env = try TestEnvironment()
        let (key, _) = try env.insertKey(userID: newUserID(), scopes: [.analytics, .datasets])
        let response = env.stats(["X-API-Key": key])
        #expect(response.status.code == 403)
        #expect(try response.object() == errorBody("Insufficient scope", code: "INSUFFICIENT_SCOPE"))
    }

    @Test(arguments: [[Scope.training], [.all], [.analytics, .training], [.models, .all]])
    func scopesThatGrantTraining(_ scopes: [Scope]) throws {
        let env = try TestEnvironment()
        let (key, _) = try env.insertKey(userID: newUserID(), scopes: scopes)
        #expect(env.stats(["X-API-Key": key]).status.code == 200)
    }

    @Test func healthIgnoresBadCredentials() throws {
        let env = try TestEnvironment()
        #expect(env.get("/api/health", headers: ["X-API-Key": "wak_bad"]).status.code == 200)
    }
}
