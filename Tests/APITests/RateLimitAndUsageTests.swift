import API
import Domain
import Foundation
import HTTPCore
import Pool
import Testing

@Suite("Rate limiting and API-key usage recording")
struct RateLimitAndUsageTests {
    @Test func fourthRequestOverALimitOfThreeIs429() throws {
        let env = try TestEnvironment(rateLimit: 3)
        let (key, _) = try env.insertKey(userID: newUserID())
        let (other, _) = try env.insertKey(userID: newUserID())

        var remaining: [String?] = []
        for _ in 0..<3 {
            let response = env.stats(["X-API-Key": key])
            #expect(response.status.code == 200)
            #expect(response.header("X-RateLimit-Limit") == "3")
            #expect(response.header("Retry-After") == nil)
            remaining.append(response.header("X-RateLimit-Remaining"))
        }
        #expect(remaining == ["2", "1", "0"])

        let limited = env.stats(["X-API-Key": key])
        #expect(limited.status.code == 429)
        let body = try limited.object()
        #expect(body["error"] == .string("Rate limit exceeded"))
        #expect(body["code"] == .string("RATE_LIMITED"))
        let retryAfter = try #require(limited.header("Retry-After").flatMap { Int($0) })
        #expect((1...60).contains(retryAfter))
        #expect(limited.header("X-RateLimit-Limit") == "3")
        #expect(limited.header("X-RateLimit-Remaining") == "0")
        let reset = try #require(limited.header("X-RateLimit-Reset").flatMap { Int64($0) })
        let now = Int64(Date().timeIntervalSince1970)
        #expect(reset > now - 5 && reset <= now + 61, "reset is an epoch second within the window")
        #expect(limited.header("X-Request-Id") != nil)

        // The same key through another header is the same budget.
        #expect(env.stats(["Authorization": "Bearer " + key]).status.code == 429)

        // Another key has its own budget.
        let fresh = env.stats(["X-API-Key": other])
        #expect(fresh.status.code == 200)
        #expect(fresh.header("X-RateLimit-Remaining") == "2")
    }

    @Test func rateLimitHeadersAccompanyErrorsAfterAuth() throws {
        // A 403 for a missing scope still counts and still reports the budget.
        let env = try TestEnvironment(rateLimit: 2)
        let (key, _) = try env.insertKey(userID: newUserID(), scopes: [.analytics])
        let first = env.stats(["X-API-Key": key])
        #expect(first.status.code == 403)
        #expect(first.header("X-RateLimit-Remaining") == "1")
        #expect(env.stats(["X-API-Key": key]).status.code == 403)
        #expect(env.stats(["X-API-Key": key]).status.code == 429)
    }

    @Test func limitZeroDisablesLimiting() throws {
        let env = try TestEnvironment(rateLimit: 0)
        let (key, _) = try env.insertKey(userID: newUserID())
        for _ in 0..<20 {
            let response = env.stats(["X-API-Key": key])
            #expect(response.status.code == 200)
            #expect(response.header("X-RateLimit-Limit") == nil)
            #expect(response.header("X-RateLimit-Remaining") == nil)
            #expect(response.header("X-RateLimit-Reset") == nil)
            #expect(response.header("Retry-After") == nil)
        }
    }

    @Test func rateLimiterIsSharedThroughTheRegion() throws {
        // Two limiters on one region (as two worker processes would have) share the budget.
        let region = try SharedMemory.anonymous(size: SharedRateLimitTable.regionSize)
        SharedRateLimitTable.initialize(region)
        let a = RateLimiter(counter: SharedRateLimitTable(region: region), limit: 2, windowSeconds: 60)
        let b = RateLimiter(counter: SharedRateLimitTable(region: region), limit: 2, windowSeconds: 60)
        let now: Int64 = 1_766_138_645_000
        #expect(a.check(keyID: "k", nowMilliseconds: now).allowed)
        #expect(b.check(keyID: "k", nowMilliseconds: now + 1).allowed)
        let refused = a.check(keyID: "k", nowMilliseconds: now + 2)
        #expect(!refused.allowed)
        #expect(refused.retryAfterSeconds == 60)
        // Windows run on the monotonic clock; the reset is reported in wall-clock epoch seconds.
        let wallNow = Int64(Date().timeIntervalSince1970)
        #expect(abs(refused.resetEpochSeconds - (wallNow + 60)) <= 2)
        // A new window starts afresh.
        #expect(b.check(keyID: "k", nowMilliseconds: now + 60_000).allowed)
    }

    // MARK: Usage

    @Test func usageIsRecordedOnFlush() throws {
        let env = try TestEnvironment()
        let (key, record) = try env.insertKey(userID: newUserID())
        let (idle, idleRecord) = try env.insertKey(userID: newUserID())
        _ = idle
        let before = Timestamp.now()
        let n = 7
        for index in 0..<n {
            // Mix the headers: it is the key that counts.
            let headers = index % 2 == 0 ? ["X-API-Key": key] : ["Authorization": "Bearer " + key]
            #expect(env.stats(headers).status.code == 200)
        }
        // Unauthenticated and session requests don't count for the key.
        _ = env.stats([:])
        _ = env.stats(env.sessionHeaders(userID: record.userID))

        let unflushed = try #require(try env.store.apiKeys.find(keyHash: record.keyHash))
        #expect(unflushed.requestCount == 0)

        env.app.flushUsage()
        let stored = try #require(try env.store.apiKeys.find(keyHash: record.keyHash))
        #expect(stored.requestCount == Int64(n))
        let lastUsed = try #require(stored.lastUsedAt)
        #expect(lastUsed >= before.adding(seconds: -1))

        // A second flush with nothing new changes nothing.
        env.app.flushUsage()
        #expect(try env.store.apiKeys.find(keyHash: record.keyHash)?.requestCount == Int64(n))

        // More requests add up.
        _ = env.stats(["X-API-Key": key])
        env.app.responder.workerDidStop()
        #expect(try env.store.apiKeys.find(keyHash: record.keyHash)?.requestCount == Int64(n + 1))

        let untouched = try #require(try env.store.apiKeys.find(keyHash: idleRecord.keyHash))
        #expect(untouched.requestCount == 0)
        #expect(untouched.lastUsedAt == nil)
    }

    @Test func usageShowsInTheKeyList() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let (key, _) = try env.insertKey(userID: user)
        for _ in 0..<3 { _ = env.stats(["X-API-Key": key]) }
        env.app.flushUsage()
        let list = try env.get("/api/user/api-keys", headers: env.sessionHeaders(userID: user)).object()
        let item = try #require(list["data"]?.arrayValue?.first?.dictionary)
        #expect(item["request_count"] == .int(3))
        #expect(item["last_used_at"]?.stringValue.flatMap { Timestamp(iso8601: $0) } != nil)
    }
}
