import API
import Domain
import Foundation
import HTTPCore
import JSON
import Testing

@Suite struct NotificationPreferencesTests {
    static let defaults: [String: JSONValue] = [
        "email_enabled": .bool(true), "email_address": .null, "alert_job_started": .bool(false), "alert_job_completed": .bool(true),
        "alert_job_failed": .bool(true), "alert_job_cancelled": .bool(false), "alert_gpu_oom": .bool(true),
        "alert_disk_warning": .bool(true), "alert_timeout_warning": .bool(true), "daily_summary_enabled": .bool(false),
        "daily_summary_hour": .int(9), "weekly_digest_enabled": .bool(false), "weekly_digest_day": .int(1),
        "quiet_hours_enabled": .bool(false), "quiet_hours_start": .int(22), "quiet_hours_end": .int(8), "timezone": .string("UTC"),
    ]

    static func data(_ response: Response) throws -> [String: JSONValue] {
        let body = try response.object()
        #expect(Set(body.keys) == ["data"])
        return try #require(body["data"]?.dictionary)
    }

    @Test func firstReadAnswersTheDefaultsAndStoresNothing() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let response = env.get("/api/notifications/preferences", headers: env.sessionHeaders(userID: user))
        #expect(response.status.code == 200)
        #expect(try Self.data(response) == Self.defaults)
        #expect(try env.store.notificationPreferences.find(userID: user) == nil)
        // An empty update is a valid no-op.
        let empty = env.postJSON("/api/notifications/preferences", "{}", headers: env.sessionHeaders(userID: user))
        #expect(empty.status.code == 200)
        #expect(try Self.data(empty) == Self.defaults)
    }

    @Test func postIsAPartialUpdateThatKeepsEverythingElse() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let headers = env.sessionHeaders(userID: user)
        let first = env.postJSON(
            "/api/notifications/preferences", #"{"daily_summary_hour": 7, "timezone": "Europe/Paris", "alert_job_started": true}"#, headers: headers)
        #expect(first.status.code == 200, "\(first.text)")
        var expected = Self.defaults
        expected["daily_summary_hour"] = .int(7)
        expected["timezone"] = .string("Europe/Paris")
        expected["alert_job_started"] = .bool(true)
        #expect(try Self.data(first) == expected)

        let second = env.postJSON(
            "/api/notifications/preferences", #"{"email_address": "ops+ml@example.co.uk", "quiet_hours_end": 0}"#, headers: headers)
        expected["email_address"] = .string("ops+ml@example.co.uk")
        expected["quiet_hours_end"] = .int(0)
        #expect(try Self.data(second) == expected)
        #expect(try Self.data(env.get("/api/notifications/preferences", headers: headers)) == expected)

        // A whole number written with a fraction part is that number.
        let whole = env.postJSON("/api/notifications/preferences", #"{"weekly_digest_day": 3.0}"#, headers: headers)
        expected["weekly_digest_day"] = .int(3)
        #expect(try Self.data(whole) == expected)

        let cleared = env.postJSON("/api/notifications/preferences", #"{"email_address": null}"#, headers: headers)
        expected["email_address"] = .null
        #expect(try Self.data(cleared) == expected)
        // Another user still sees the defaults.
        #expect(try Self.data(env.get("/api/notifications/preferences", headers: env.sessionHeaders(userID: newUserID()))) == Self.defaults)
    }

    static let invalidBodies: [(body: String, field: String)] = [
        (#"{"sms_enabled": true}"#, "sms_enabled"),
        (#"{"email_enabled": "yes"}"#, "email_enabled"),
        (#"{"email_enabled": null}"#, "email_enabled"),
        (#"{"alert_gpu_oom": 1}"#, "alert_gpu_oom"),
        (#"{"daily_summary_hour": 9.5}"#, "daily_summary_hour"),
        (#"{"daily_summary_hour": 24}"#, "daily_summary_hour"),
        (#"{"daily_summary_hour": -1}"#, "daily_summary_hour"),
        (#"{"daily_summary_hour": "9"}"#, "daily_summary_hour"),
        (#"{"quiet_hours_start": null}"#, "quiet_hours_start"),
        (#"{"quiet_hours_end": 100000000000000000000}"#, "quiet_hours_end"),
        (#"{"weekly_digest_day": 7}"#, "weekly_digest_day"),
        (#"{"email_address": "not-an-address"}"#, "email_address"),
        (#"{"email_address": "a@b"}"#, "email_address"),
        (#"{"email_address": "a b@example.com"}"#, "email_address"),
        (#"{"email_address": "a..b@example.com"}"#, "email_address"),
        (#"{"email_address": 5}"#, "email_address"),
        (#"{"timezone": "Mars/Olympus_Mons"}"#, "timezone"),
        (#"{"timezone": "../../../etc/passwd"}"#, "timezone"),
        (#"{"timezone": "Europe/../../../etc/passwd"}"#, "timezone"),
        (#"{"timezone": "/etc/passwd"}"#, "timezone"),
        (#"{"timezone": "America"}"#, "timezone"),
        (#"{"timezone": "zone.tab"}"#, "timezone"),
        (#"{"timezone": "posix/Europe/Paris"}"#, "timezone"),
        (#"{"timezone": "europe/paris"}"#, "timezone"),
        (#"{"timezone": ""}"#, "timezone"),
        (#"{"timezone": null}"#, "timezone"),
        // A good field with a bad one: the whole body is refused.
        (#"{"daily_summary_hour": 5, "weekly_digest_day": 9}"#, "weekly_digest_day"),
    ]

    @Test(arguments: NotificationPreferencesTests.invalidBodies)
    func badFieldsAreA400NamingTheField(body: String, field: String) throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let response = env.postJSON("/api/notifications/preferences", body, headers: env.sessionHeaders(userID: user))
        #expect(response.status.code == 400, "\(body): \(response.text)")
        #expect(try response.object()["details"]?.stringValue?.contains(field) == true, "\(body): \(response.text)")
        #expect(try env.store.notificationPreferences.find(userID: user) == nil)
    }

    @Test func zoneNamesOfTheSystemDatabaseAreAccepted() throws {
        let env = try TestEnvironment()
        let headers = env.sessionHeaders(userID: newUserID())
        for zone in ["UTC", "Etc/UTC", "America/Argentina/Buenos_Aires", "Asia/Kolkata", "America/New_York", "Etc/GMT+5"] {
            let response = env.postJSON("/api/notifications/preferences", #"{"timezone": "\#(zone)"}"#, headers: headers)
            #expect(response.status.code == 200, "\(zone): \(response.text)")
        }
    }

    @Test func nonObjectBodiesAndScope() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let headers = env.sessionHeaders(userID: user)
        #expect(env.postJSON("/api/notifications/preferences", "[1]", headers: headers).status.code == 400)
        #expect(env.postJSON("/api/notifications/preferences", "{", headers: headers).status.code == 400)
        #expect(env.postJSON("/api/notifications/preferences", "", headers: headers).status.code == 400)
        #expect(env.postJSON("/api/notifications/preferences", "{}", headers: headers, contentType: "text/plain").status.code == 415)
        #expect(env.get("/api/notifications/preferences").status.code == 401)
        let models = try env.insertKey(userID: user, scopes: [.models]).key
        #expect(env.get("/api/notifications/preferences", headers: ["X-API-Key": models]).status.code == 403)
        #expect(env.postJSON("/api/notifications/preferences", "{}", headers: ["X-API-Key": models]).status.code == 403)
        let notifications = try env.insertKey(userID: user, scopes: [.notifications]).key
        #expect(env.get("/api/notifications/preferences", headers: ["X-API-Key": notifications]).status.code == 200)
    }

    /// Threads of one process updating different fields at once: every update survives.
    @Test func concurrentPartialUpdatesOfDifferentFieldsAllSurvive() throws {
        let env = try TestEnvironment()
        let user = newUserID()
        let headers = env.sessionHeaders(userID: user)
        let bodies = [
            #"{"email_enabled": false}"#, #"{"alert_job_started": true}"#, #"{"alert_job_completed": false}"#,
            #"{"alert_job_failed": false}"#, #"{"alert_job_cancelled": true}"#, #"{"alert_gpu_oom": false}"#,
            #"{"alert_disk_warning": false}"#, #"{"alert_timeout_warning": false}"#, #"{"daily_summary_enabled": true}"#,
            #"{"daily_summary_hour": 6}"#, #"{"weekly_digest_enabled": true}"#, #"{"weekly_digest_day": 5}"#,
            #"{"quiet_hours_enabled": true}"#, #"{"quiet_hours_start": 23}"#, #"{"quiet_hours_end": 7}"#,
            #"{"timezone": "Asia/Tokyo"}"#, #"{"email_address": "me@example.com"}"#,
        ]
        DispatchQueue.concurrentPerform(iterations: bodies.count) { index in
            let response = env.postJSON("/api/notifications/preferences", bodies[index], headers: headers)
            #expect(response.status.code == 200)
        }
        let stored = try Self.data(env.get("/api/notifications/preferences", headers: headers))
        for body in bodies {
            let change = try #require(try JSONValue.parse(Array(body.utf8)).dictionary)
            for (field, value) in change { #expect(stored[field] == value, "\(field)") }
        }
    }
}
