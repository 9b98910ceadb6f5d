import Domain
import Testing

/// `NotificationPreferencesStore` as every backend implements it.
@Suite("NotificationPreferencesStore conformance")
struct NotificationPreferencesStoreConformance {
    /// Every field away from its default.
    static func everythingChanged(_ value: inout NotificationPreferences) {
        value.emailEnabled = false
        value.emailAddress = "ops@example.com"
        value.alertJobStarted = true
        value.alertJobCompleted = false
        value.alertJobFailed = false
        value.alertJobCancelled = true
        value.alertGPUOOM = false
        value.alertDiskWarning = false
        value.alertTimeoutWarning = false
        value.dailySummaryEnabled = true
        value.dailySummaryHour = 23
        value.weeklyDigestEnabled = true
        value.weeklyDigestDay = 0
        value.quietHoursEnabled = true
        value.quietHoursStart = 1
        value.quietHoursEnd = 0
        value.timezone = "Europe/Berlin"
    }

    @Test(arguments: StoreBackend.all)
    func everyFieldRoundTrips(_ backend: StoreBackend) throws {
        try backend.withDatabase { database in
            let store = try database.open()
            #expect(try store.notificationPreferences.find(userID: "alice") == nil)
            var expected = NotificationPreferences()
            Self.everythingChanged(&expected)
            #expect(expected != NotificationPreferences())

            let saved = try store.notificationPreferences.update(userID: "alice", at: instant(), Self.everythingChanged)
            #expect(saved == expected)
            #expect(try database.open().notificationPreferences.find(userID: "alice") == expected)
            #expect(try store.notificationPreferences.find(userID: "bob") == nil)

            let back = try store.notificationPreferences.update(userID: "alice", at: instant(1)) { $0 = NotificationPreferences() }
            #expect(back == NotificationPreferences())
            #expect(try store.notificationPreferences.find(userID: "alice") == NotificationPreferences())
        }
    }

    @Test(arguments: StoreBackend.all)
    func updateStartsFromTheDefaultsThenFromTheStoredValue(_ backend: StoreBackend) throws {
        try backend.withStore { store in
            var seen: [NotificationPreferences] = []
            _ = try store.notificationPreferences.update(userID: "alice", at: instant()) { value in
                seen.append(value)
                value.dailySummaryHour = 7
            }
            let second = try store.notificationPreferences.update(userID: "alice", at: instant(1)) { value in
                seen.append(value)
                value.timezone = "Asia/Tokyo"
            }
            var first = NotificationPreferences()
            first.dailySummaryHour = 7
            #expect(seen == [NotificationPreferences(), first])
            var expected = first
            expected.timezone = "Asia/Tokyo"
            #expect(second == expected)
            #expect(try store.notificationPreferences.find(userID: "alice") == expected)
        }
    }

    @Test(arguments: StoreBackend.all)
    func updateThatThrowsStoresNothing(_ backend: StoreBackend) throws {
        try backend.withStore { store throws in
            #expect(throws: Refused()) {
                _ = try store.notificationPreferences.update(userID: "alice", at: instant()) { value in
                    value.emailEnabled = false
                    throw Refused()
                }
            }
            #expect(try store.notificationPreferences.find(userID: "alice") == nil)
        }
    }
}
