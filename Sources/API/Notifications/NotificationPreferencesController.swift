import Domain
import HTTPCore
import JSON

/// `GET`/`POST /api/notifications/preferences` (scope `notifications`).
struct NotificationPreferencesController {
    let preferences: any NotificationPreferencesStore

    /// Each field: its JSON name, how it is read from a body, and how it is written.
    private struct Field: Sendable {
        let name: String
        let apply: @Sendable (JSONValue, inout NotificationPreferences) throws(APIError) -> Void
        let value: @Sendable (NotificationPreferences) -> JSONValue
    }

    private static func flag(_ name: String, _ path: any WritableKeyPath<NotificationPreferences, Bool> & Sendable) -> Field {
        Field(
            name: name,
            apply: { value, target throws(APIError) in
                guard case .bool(let flag) = value else { throw APIError.badRequest("\(name) must be a boolean, not \(value.typeName)") }
                target[keyPath: path] = flag
            },
            value: { .bool($0[keyPath: path]) }
        )
    }

    private static func integer(_ name: String, _ path: any WritableKeyPath<NotificationPreferences, Int> & Sendable, _ range: ClosedRange<Int>)
        -> Field
    {
        Field(
            name: name,
            apply: { value, target throws(APIError) in
                let problem = "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)"
                let number: Int64
                switch value {
                case .int(let whole): number = whole
                case .double(let real) where real.rounded() == real && abs(real) <= 1e6: number = Int64(real)  // 9.0 is 9, as elsewhere in the API
                case .double: throw APIError.badRequest(problem + ", not a fraction")
                default: throw APIError.badRequest(problem + ", not \(value.typeName)")
                }
                guard number >= Int64(range.lowerBound), number <= Int64(range.upperBound) else { throw APIError.badRequest(problem) }
                target[keyPath: path] = Int(number)
            },
            value: { .int($0[keyPath: path]) }
        )
    }

    private static let fields: [Field] = [
        flag("email_enabled", \.emailEnabled),
        Field(
            name: "email_address",
            apply: { value, target throws(APIError) in
                switch value {
                case .null:
                    target.emailAddress = nil
                case .string(let text):
                    guard EmailAddress.isValid(text) else { throw APIError.badRequest("email_address must be a valid email address") }
                    target.emailAddress = text
                default:
                    throw APIError.badRequest("email_address must be a string or null, not \(value.typeName)")
                }
            },
            value: { .string($0.emailAddress) }
        ),
        flag("alert_job_started", \.alertJobStarted),
        flag("alert_job_completed", \.alertJobCompleted),
        flag("alert_job_failed", \.alertJobFailed),
        flag("alert_job_cancelled", \.alertJobCancelled),
        flag("alert_gpu_oom", \.alertGPUOOM),
        flag("alert_disk_warning", \.alertDiskWarning),
        flag("alert_timeout_warning", \.alertTimeoutWarning),
        flag("daily_summary_enabled", \.dailySummaryEnabled),
        integer("daily_summary_hour", \.dailySummaryHour, 0...23),
        flag("weekly_digest_enabled", \.weeklyDigestEnabled),
        integer("weekly_digest_day", \.weeklyDigestDay, 0...6),
        flag("quiet_hours_enabled", \.quietHoursEnabled),
        integer("quiet_hours_start", \.quietHoursStart, 0...23),
        integer("quiet_hours_end", \.quietHoursEnd, 0...23),
        Field(
            name: "timezone",
            apply: { value, target throws(APIError) in
                guard case .string(let name) = value else { throw APIError.badRequest("timezone must be a string, not \(value.typeName)") }
                guard TimeZoneNames.isValid(name) else {
                    throw APIError.badRequest("timezone must be an IANA time zone name such as Europe/Paris, not \(name)")
                }
                target.timezone = name
            },
            value: { .string($0.timezone) }
        ),
    ]
    private static let fieldNames = Set(fields.map(\.name))

    func register(on router: inout Router) {
        router.get("/api/notifications/preferences", auth: .scope(.notifications), operation: .showNotificationPreferences, use: show)
        router.post("/api/notifications/preferences", auth: .scope(.notifications), operation: .updateNotificationPreferences, use: update)
    }

    func show(_ context: RequestContext) throws -> Response {
        let stored = try preferences.find(userID: context.user.userID) ?? NotificationPreferences()
        return .json(.object(["data": Self.json(stored)]))
    }

    func update(_ context: RequestContext) throws -> Response {
        let body = try context.jsonObject()
        try FieldReader(body).rejectUnknown(Self.fieldNames)
        // Validated whole against a scratch value before anything is stored.
        let given = Self.fields.compactMap { field in body[field.name].map { (field, $0) } }
        var scratch = NotificationPreferences()
        for (field, value) in given { try field.apply(value, &scratch) }
        let userID = try context.user.userID
        let stored: NotificationPreferences
        if given.isEmpty {
            stored = try preferences.find(userID: userID) ?? NotificationPreferences()
        } else {
            stored = try preferences.update(userID: userID, at: .now()) { current in
                for (field, value) in given { try field.apply(value, &current) }
            }
        }
        return .json(.object(["data": Self.json(stored)]))
    }

    /// All 17 fields, in the contract's order.
    private static func json(_ value: NotificationPreferences) -> JSONValue {
        .object(JSONObject(fields.map { ($0.name, $0.value(value)) }))
    }
}
