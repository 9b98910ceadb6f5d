/// The fine-tuning dataset formats of the contract.
public enum DatasetFormat: String, Sendable, CaseIterable {
    case chatml, sharegpt, alpaca, dpo, text
}

/// Why one example is invalid. Kept as plain values so that a line failing a
/// format costs no string building; the message is made only for the errors
/// that are reported.
enum DatasetFault {
    case invalidUTF8
    case invalidJSON
    case tooManyValues
    case notAnObject(JSONKind)
    case missing(String)
    case empty(String)
    case notAString(String, JSONKind)
    case notANonEmptyArray(String)
    case turnNotAnObject(String, index: Int, JSONKind)
    case unknownRole(String, index: Int, key: String, allowed: String)
    case turnTextNotAString(String, index: Int, key: String, JSONKind?)
    case noAnswer(String, answer: String)
    case arrayNotClosed
    case notAnArray
    case afterArray

    var message: String {
        switch self {
        case .invalidUTF8: "invalid UTF-8"
        case .invalidJSON: "invalid JSON"
        case .tooManyValues: "too many values on one line (more than \(JSONTapeParser.maximumEntries))"
        case .notAnObject(let kind): "expected a JSON object, not \(kind.name)"
        case .missing(let field): "missing \(field)"
        case .empty(let field): "\(field) must not be empty"
        case .notAString(let field, let kind): "\(field) must be a string, not \(kind.name)"
        case .notANonEmptyArray(let field): "\(field) must be a non-empty array"
        case .turnNotAnObject(let field, let index, let kind): "\(field)[\(index)] must be an object, not \(kind.name)"
        case .unknownRole(let field, let index, let key, let allowed): "\(field)[\(index)].\(key) must be one of \(allowed)"
        case .turnTextNotAString(let field, let index, let key, let kind):
            "\(field)[\(index)].\(key) must be a string (\(kind.map { "not \($0.name)" } ?? "missing"))"
        case .noAnswer(let field, let answer): "\(field) has no \(answer) turn"
        case .arrayNotClosed: "the JSON array is not closed with ]"
        case .notAnArray: "expected a JSON array of examples"
        case .afterArray: "unexpected data after the JSON array"
        }
    }
}

/// What one format's rules say about one example.
struct DatasetVerdict {
    /// Whether the example has the format's telltale keys (used for detection).
    var shapeMatches: Bool
    var fault: DatasetFault?
    var inputCharacters = 0
    var outputCharacters = 0
}

/// The per-format rules, read off a parsed line's tape.
enum DatasetRules {
    private struct Conversation {
        let field: StaticKey
        let roleKey: StaticKey
        let textKey: StaticKey
        let roles: [StaticKey]
        let answer: Int
        let allowed: String

        init(field: String, roleKey: String, textKey: String, roles: [String], answer: String) {
            self.field = StaticKey(field)
            self.roleKey = StaticKey(roleKey)
            self.textKey = StaticKey(textKey)
            self.roles = roles.map(StaticKey.init)
            self.answer = roles.firstIndex(of: answer)!
            allowed = roles.joined(separator: ", ")
        }
    }

    private struct Fields {
        let required: [StaticKey]
        let optional: [StaticKey]
        /// Names counted as input or output characters.
        let inputs: Set<String>
        let outputs: Set<String>
    }

    private static let chatml = Conversation(
        field: "messages", roleKey: "role", textKey: "content", roles: ["system", "user", "assistant", "tool"], answer: "assistant")
    private static let sharegpt = Conversation(
        field: "conversations", roleKey: "from", textKey: "value", roles: ["system", "human", "gpt", "tool"], answer: "gpt")
    private static let alpaca = Fields(
        required: [StaticKey("instruction"), StaticKey("output")], optional: [StaticKey("input")],
        inputs: ["instruction", "input"], outputs: ["output"])
    private static let dpo = Fields(
        required: [StaticKey("prompt"), StaticKey("chosen"), StaticKey("rejected")], optional: [],
        inputs: ["prompt"], outputs: ["chosen"])
    private static let text = Fields(required: [StaticKey("text")], optional: [], inputs: [], outputs: ["text"])

    /// Checks the object at the root of `tape` against `format`.
    static func check(_ tape: JSONTapeParser, _ line: UnsafeBufferPointer<UInt8>, as format: DatasetFormat) -> DatasetVerdict {
        switch format {
        case .chatml: conversation(tape, line, chatml)
        case .sharegpt: conversation(tape, line, sharegpt)
        case .alpaca: fields(tape, line, alpaca)
        case .dpo: fields(tape, line, dpo)
        case .text: fields(tape, line, text)
        }
    }

    private static func fields(_ tape: JSONTapeParser, _ line: UnsafeBufferPointer<UInt8>, _ rules: Fields) -> DatasetVerdict {
        let found = rules.required.map { tape.member($0, ofObjectAt: 0, in: line) }
        var verdict = DatasetVerdict(shapeMatches: found.allSatisfy { $0 != nil })
        for (key, value) in zip(rules.required, found) {
            guard let value, tape.entries[value].kind != .null else {
                verdict.fault = .missing(key.text)
                return verdict
            }
            let entry = tape.entries[value]
            guard entry.kind == .string else {
                verdict.fault = .notAString(key.text, entry.kind)
                return verdict
            }
            guard entry.length > 0 else {
                verdict.fault = .empty(key.text)
                return verdict
            }
            count(entry, named: key.text, in: rules, into: &verdict)
        }
        for key in rules.optional {
            guard let value = tape.member(key, ofObjectAt: 0, in: line), tape.entries[value].kind != .null else { continue }
            let entry = tape.entries[value]
            guard entry.kind == .string else {
                verdict.fault = .notAString(key.text, entry.kind)
                return verdict
            }
            count(entry, named: key.text, in: rules, into: &verdict)
        }
        return verdict
    }

    private static func count(_ entry: JSONTapeEntry, named name: String, in rules: Fields, into verdict: inout DatasetVerdict) {
        if rules.inputs.contains(name) { verdict.inputCharacters += Int(entry.characters) }
        if rules.outputs.contains(name) { verdict.outputCharacters += Int(entry.characters) }
    }

    private static func conversation(_ tape: JSONTapeParser, _ line: UnsafeBufferPointer<UInt8>, _ rules: Conversation) -> DatasetVerdict {
        guard let list = tape.member(rules.field, ofObjectAt: 0, in: line) else {
            return DatasetVerdict(shapeMatches: false, fault: .missing(rules.field.text))
        }
        var verdict = DatasetVerdict(shapeMatches: true)
        let entries = tape.entries
        guard entries[list].kind == .array, entries[list].length > 0 else {
            verdict.fault = .notANonEmptyArray(rules.field.text)
            return verdict
        }
        var answered = false
        var turn = list + 1
        var index = 0
        while turn < Int(entries[list].next) {
            defer {
                turn = Int(entries[turn].next)
                index += 1
            }
            guard entries[turn].kind == .object else {
                verdict.fault = .turnNotAnObject(rules.field.text, index: index, entries[turn].kind)
                return verdict
            }
            guard let role = tape.member(rules.roleKey, ofObjectAt: turn, in: line), entries[role].kind == .string,
                let roleIndex = rules.roles.firstIndex(where: { tape.stringEquals(at: role, $0.bytes, in: line) })
            else {
                verdict.fault = .unknownRole(rules.field.text, index: index, key: rules.roleKey.text, allowed: rules.allowed)
                return verdict
            }
            guard let text = tape.member(rules.textKey, ofObjectAt: turn, in: line), entries[text].kind == .string else {
                let kind = tape.member(rules.textKey, ofObjectAt: turn, in: line).map { entries[$0].kind }
                verdict.fault = .turnTextNotAString(rules.field.text, index: index, key: rules.textKey.text, kind)
                return verdict
            }
            if roleIndex == rules.answer {
                answered = true
                verdict.outputCharacters += Int(entries[text].characters)
            } else {
                verdict.inputCharacters += Int(entries[text].characters)
            }
        }
        if !answered { verdict.fault = .noAnswer(rules.field.text, answer: rules.roles[rules.answer].text) }
        return verdict
    }
}
