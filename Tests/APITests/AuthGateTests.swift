import API
import Domain
import Foundation
import HTTPCore
import Logging
import Pool
import Testing

/// The auth gate alone, without the router or a handler: credential →
/// principal → rate limit → scope, on a real SQLite store.
@Suite struct AuthGateTests {
    let env: TestEnvironment
    let usage: UsageRecorder

    init() throws {
        env = try TestEnvironment()
        usage = UsageRecorder(store: env.store.apiKeys, logger: Logger(label: "test"))
    }

    func gate(limit: Int = 0) throws -> AuthGate {
        let verifier = SessionTokenVerifier(configuration: SessionTokenConfiguration(hmacSecret: TestEnvironment.secret))
        return AuthGate(
            authenticator: Authenticator(keys: env.store.apiKeys, jobs: env.store.trainingJobs, sessionTokens: verifier),
            rateLimiter: RateLimiter(counter: try SharedRateLimitTable.anonymous(), limit: limit, windowSeconds: 60), usage: usage
        )
    }

    func admit(
        _ gate: AuthGate, _ headers: [String: String], to requirement: AuthRequirement, parameters: [String: String] = [:]
    ) -> Result<AuthGate.Admission, AuthGate.Refusal> {
        Result { () throws(AuthGate.Refusal) -> AuthGate.Admission in
            try gate.admit(HeaderFields(headers), to: requirement, parameters: parameters, now: Date().timeIntervalSince1970)
        }
    }

    func refusal(_ result: Result<AuthGate.Admission, AuthGate.Refusal>) -> (error: APIError?, principal: Principal?)? {
        guard case .failure(let refusal) = result else { return nil }
        return (refusal.error as? APIError, refusal.principal)
    }

    @Test func openRoutesNeedNoCredentialAndReadNone() throws {
        let admission = try admit(try gate(), ["X-API-Key": "wak_not-even-well-formed"], to: .none).get()
        #expect(admission.principal == nil)
        #expect(admission.headers.isEmpty)
    }

    @Test func aMissingOrUnknownCredentialIs401WithNoPrincipal() throws {
        let gate = try gate()
        let missing = try #require(refusal(admit(gate, [:], to: .scope(.training))))
        #expect(missing.error == .missingAuthorization)
        #expect(missing.principal == nil)
        let unknown = try #require(refusal(admit(gate, ["X-API-Key": "wak_" + String(repeating: "a", count: 32)], to: .scope(.training))))
        #expect(unknown.error?.status == .unauthorized)
        let revoked = try env.insertKey(userID: newUserID(), revoked: true).key
        #expect(refusal(admit(gate, ["X-API-Key": revoked], to: .scope(.training)))?.error?.status == .unauthorized)
    }

    @Test func anAPIKeyPassesWithItsScopeAndCarriesRateHeaders() throws {
        let user = newUserID()
        let (key, record) = try env.insertKey(userID: user, scopes: [.training])
        let admission = try admit(try gate(limit: 5), ["Authorization": "Bearer \(key)"], to: .scope(.training)).get()
        #expect(admission.principal == Principal(userID: user, credential: .apiKey(id: record.id, scopes: [.training])))
        #expect(admission.headers.first { $0.name == "X-RateLimit-Remaining" }?.value == "4")
        #expect(admission.headers.contains { $0.name == "X-RateLimit-Limit" && $0.value == "5" })
    }

    @Test func aKeyWithoutTheScopeIs403NamingTheCallerAndCountingTheRequest() throws {
        let user = newUserID()
        let (key, record) = try env.insertKey(userID: user, scopes: [.analytics])
        let refused = try #require(refusal(admit(try gate(limit: 5), ["X-API-Key": key], to: .scope(.datasets))))
        #expect(refused.error?.code == "INSUFFICIENT_SCOPE")
        #expect(refused.error?.status == .forbidden)
        #expect(refused.principal?.userID == user)
        #expect(refused.error?.headers.contains { $0.name == "X-RateLimit-Remaining" && $0.value == "4" } == true)
        usage.flush()
        #expect(try env.store.apiKeys.find(keyHash: record.keyHash)?.requestCount == 1)
    }

    @Test func theRateLimitComesBeforeTheScope() throws {
        let (key, _) = try env.insertKey(userID: newUserID(), scopes: [.analytics])
        let gate = try gate(limit: 2)
        for _ in 0..<2 { #expect(refusal(admit(gate, ["X-API-Key": key], to: .scope(.training)))?.error?.status == .forbidden) }
        let limited = try #require(refusal(admit(gate, ["X-API-Key": key], to: .scope(.training))))
        #expect(limited.error?.status == .tooManyRequests)
        #expect(limited.error?.headers.contains { $0.name == "Retry-After" } == true)
        #expect(limited.error?.headers.contains { $0.name == "X-RateLimit-Remaining" && $0.value == "0" } == true)
    }

    @Test func aJobTokenReachesOnlyItsOwnJobsTrainerRoutes() throws {
        let user = newUserID()
        let token = JobToken.generate()
        let job = TrainingJob(
            id: newUserID(), userID: user, modelName: "m", status: .pending, jobTokenHash: JobToken.hash(token), createdAt: .now()
        )
        try env.store.trainingJobs.insert([job])
        let gate = try gate(limit: 5)
        let headers = ["Authorization": "Bearer \(token)"]
        let admission = try admit(gate, headers, to: .trainer, parameters: ["id": job.id]).get()
        #expect(admission.principal == Principal(userID: user, credential: .jobToken(jobID: job.id, tokenHash: JobToken.hash(token))))
        #expect(admission.headers.isEmpty)
        #expect(refusal(admit(gate, headers, to: .trainer, parameters: ["id": newUserID()]))?.error == .unauthorized)
        #expect(refusal(admit(gate, headers, to: .scope(.training)))?.error == .unauthorized)
        #expect(refusal(admit(gate, headers, to: .session))?.error == .unauthorized)
    }

    @Test func trainerRoutesTakeATrainingKeyOrASession() throws {
        let gate = try gate()
        let training = try env.insertKey(userID: newUserID(), scopes: [.training]).key
        let analytics = try env.insertKey(userID: newUserID(), scopes: [.analytics]).key
        #expect(try admit(gate, ["X-API-Key": training], to: .trainer, parameters: ["id": newUserID()]).get().principal != nil)
        #expect(refusal(admit(gate, ["X-API-Key": analytics], to: .trainer, parameters: ["id": newUserID()]))?.error == .insufficientScope)
        let session = try admit(gate, env.sessionHeaders(userID: "u1"), to: .trainer, parameters: ["id": newUserID()]).get()
        #expect(session.principal == Principal(userID: "u1", credential: .session))
    }

    @Test func keyManagementTakesASessionOnly() throws {
        let gate = try gate()
        let all = try env.insertKey(userID: newUserID(), scopes: [.all]).key
        let refused = try #require(refusal(admit(gate, ["X-API-Key": all], to: .session)))
        #expect(refused.error?.status == .forbidden)
        #expect(refused.error?.details == "API keys are managed with a session token")
        #expect(try admit(gate, env.sessionHeaders(userID: "u2"), to: .session).get().principal?.credential == .session)
        let expired = ["Authorization": "Bearer " + TestEnvironment.sessionToken(userID: "u2", ttlSeconds: -120)]
        #expect(refusal(admit(gate, expired, to: .session))?.error == .unauthorized)
    }

    @Test func aKeyOnASessionRouteIsRefusedBeforeItIsCounted() throws {
        let gate = try gate(limit: 2)
        let key = ["X-API-Key": try env.insertKey(userID: newUserID(), scopes: [.all]).key]
        for _ in 0..<5 {
            let refused = try #require(refusal(admit(gate, key, to: .session)))
            #expect(refused.error?.status == .forbidden && refused.error?.headers.isEmpty == true)
        }
        // Its budget is whole: the routes a key may use still take it twice.
        #expect(try admit(gate, key, to: .scope(.training)).get().headers.contains { $0.name == "X-RateLimit-Remaining" && $0.value == "1" })
        #expect(try admit(gate, key, to: .scope(.training)).get().principal != nil)
        #expect(refusal(admit(gate, key, to: .scope(.training)))?.error?.status == .tooManyRequests)
    }
}
