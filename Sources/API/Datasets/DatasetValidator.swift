/// The fine-tuning dataset formats of the contract.
public enum DatasetFormat: String, Sendable, CaseIterable {
    case chatml, sharegpt, alpaca, dpo, text
}

/// What validation found; `json` is the contract's report shape.
public struct DatasetReport: Sendable, Equatable {
    public struct LineError: Sendable, Equatable {
        public var line: Int
        public var message: String
    }

    public var format: DatasetFormat
    /// high, medium or low: how clearly the lines have this format's shape (`high` when the format was given).
    public var confidence: String
    public var totalExamples: Int
    public var validExamples: Int
    public var errorCount: Int
    /// The first `DatasetValidator.maximumReportedErrors` errors.
    public var errors: [LineError]
    public var averageInputCharacters: Double
    public var averageOutputCharacters: Double
    public var estimatedTokens: Int

    public var isValid: Bool { totalExamples > 0 && errorCount == 0 }

    public var json: JSONValue {
        .object([
            "valid": .bool(isValid), "format": .string(format.rawValue), "detected_confidence": .string(confidence),
            "total_examples": .int(totalExamples), "valid_examples": .int(validExamples), "error_count": .int(errorCount),
            "errors": .array(errors.map { .object(["line": .int($0.line), "message": .string($0.message)]) }),
            "stats": .object([
                "avg_input_chars": .double((averageInputCharacters * 10).rounded() / 10),
                "avg_output_chars": .double((averageOutputCharacters * 10).rounded() / 10),
                "estimated_tokens": .int(estimatedTokens),
            ]),
        ])
    }
}

/// Validates JSON Lines as they arrive, line by line: memory stays bounded by
/// the longest line plus the bytes not yet split, never by the file.
///
/// With no format given, every line is checked against all five formats at
/// once and the report is for the format most lines satisfy, so nothing
/// needs to be buffered for detection.
public struct DatasetValidator {
    public static let maximumReportedErrors = 25

    private struct Tally {
        var valid = 0
        var shapeMatches = 0
        var errorCount = 0
        var errors: [DatasetReport.LineError] = []
        var inputCharacters = 0
        var outputCharacters = 0

        mutating func record(_ outcome: Outcome, line: Int) {
            if outcome.shapeMatches { shapeMatches += 1 }
            switch outcome.result {
            case .success(let characters):
                valid += 1
                inputCharacters += characters.input
                outputCharacters += characters.output
            case .failure(let failure):
                errorCount += 1
                if errors.count < DatasetValidator.maximumReportedErrors {
                    errors.append(DatasetReport.LineError(line: line, message: "Line \(line): \(failure.message)"))
                }
            }
        }
    }

    private struct Outcome {
        var shapeMatches: Bool
        var result: Result<(input: Int, output: Int), Failure>
    }

    private struct Failure: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    private let requested: DatasetFormat?
    private var tallies: [DatasetFormat: Tally]
    private var pending: [UInt8] = []
    private var lineNumber = 0
    private var examples = 0
    private var sawAnyByte = false
    private var atStart = true

    /// - Parameter format: the format to check, or nil to detect it.
    public init(format: DatasetFormat?) {
        requested = format
        tallies = Dictionary(uniqueKeysWithValues: (format.map { [$0] } ?? DatasetFormat.allCases).map { ($0, Tally()) })
    }

    /// Feeds the next bytes of the file.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        guard !bytes.isEmpty else { return }
        sawAnyByte = true
        var chunk = Array(bytes)[...]
        if atStart {
            pending.append(contentsOf: chunk)
            guard pending.count >= 3 || !pending.starts(with: [0xEF, 0xBB, 0xBF].prefix(pending.count)) else { return }
            if pending.starts(with: [0xEF, 0xBB, 0xBF]) { pending.removeFirst(3) }
            atStart = false
            chunk = pending[...]
            pending = []
        }
        while let newline = chunk.firstIndex(of: 0x0A) {
            if pending.isEmpty {
                validateLine(chunk[chunk.startIndex..<newline])
            } else {
                pending.append(contentsOf: chunk[chunk.startIndex..<newline])
                validateLine(pending[...])
                pending.removeAll(keepingCapacity: true)
            }
            chunk = chunk[(newline + 1)...]
        }
        pending.append(contentsOf: chunk)
    }

    /// Ends the input (a last line without a newline counts; a trailing newline adds no line) and reports.
    public mutating func finish() -> DatasetReport {
        if atStart, !pending.isEmpty {
            if pending.starts(with: [0xEF, 0xBB, 0xBF]) { pending.removeFirst(3) }
            atStart = false
        }
        if !pending.isEmpty {
            validateLine(pending[...])
            pending = []
        }
        let chosen: DatasetFormat
        let confidence: String
        if let requested {
            chosen = requested
            confidence = "high"
        } else {
            chosen = DatasetFormat.allCases.max { a, b in
                let ta = tallies[a]!, tb = tallies[b]!
                return (ta.valid, ta.shapeMatches) < (tb.valid, tb.shapeMatches)
            }!
            let share = examples == 0 ? 0 : Double(tallies[chosen]!.shapeMatches) / Double(examples)
            confidence = share >= 0.9 ? "high" : share >= 0.6 ? "medium" : "low"
        }
        let tally = tallies[chosen]!
        let input = tally.valid == 0 ? 0 : Double(tally.inputCharacters) / Double(tally.valid)
        let output = tally.valid == 0 ? 0 : Double(tally.outputCharacters) / Double(tally.valid)
        return DatasetReport(
            format: chosen, confidence: confidence, totalExamples: examples, validExamples: tally.valid, errorCount: tally.errorCount,
            errors: tally.errors, averageInputCharacters: input, averageOutputCharacters: output,
            estimatedTokens: (tally.inputCharacters + tally.outputCharacters + 3) / 4
        )
    }

    private mutating func validateLine(_ raw: ArraySlice<UInt8>) {
        lineNumber += 1
        var line = raw
        if line.last == 0x0D { line = line.dropLast() }
        guard line.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { return }  // blank: counted, not an example
        examples += 1
        let object: JSONObject
        if String(validating: line, as: UTF8.self) == nil {
            return recordForAll(Failure("invalid UTF-8"))
        }
        switch try? JSONValue.parse(Array(line)) {
        case nil: return recordForAll(Failure("invalid JSON"))
        case .object(let parsed)?: object = parsed
        case let other?: return recordForAll(Failure("expected a JSON object, not \(other.typeName)"))
        }
        for format in tallies.keys { tallies[format]!.record(Self.check(object, as: format), line: lineNumber) }
    }

    /// A line that fails before any format's rules apply.
    private mutating func recordForAll(_ failure: Failure) {
        for format in tallies.keys { tallies[format]!.record(Outcome(shapeMatches: false, result: .failure(failure)), line: lineNumber) }
    }

    // MARK: Per-format rules

    private static let chatRoles = ["system", "user", "assistant", "tool"]
    private static let shareGPTRoles = ["system", "human", "gpt", "tool"]

    private static func check(_ object: JSONObject, as format: DatasetFormat) -> Outcome {
        switch format {
        case .chatml:
            return conversation(object, field: "messages", roleKey: "role", textKey: "content", roles: chatRoles, answer: "assistant")
        case .sharegpt:
            return conversation(object, field: "conversations", roleKey: "from", textKey: "value", roles: shareGPTRoles, answer: "gpt")
        case .alpaca:
            return fields(object, required: ["instruction", "output"], optional: ["input"], inputs: ["instruction", "input"], outputs: ["output"])
        case .dpo:
            return fields(object, required: ["prompt", "chosen", "rejected"], optional: [], inputs: ["prompt"], outputs: ["chosen"])
        case .text:
            return fields(object, required: ["text"], optional: [], inputs: [], outputs: ["text"])
        }
    }

    private static func fields(_ object: JSONObject, required: [String], optional: [String], inputs: [String], outputs: [String]) -> Outcome {
        let shape = required.allSatisfy { object[$0] != nil }
        var input = 0
        var output = 0
        for name in required + optional {
            let isRequired = required.contains(name)
            switch object[name] {
            case nil where isRequired, .null? where isRequired:
                return Outcome(shapeMatches: shape, result: .failure(Failure("missing \(name)")))
            case nil, .null?:
                continue
            case .string(let text)?:
                if isRequired && text.isEmpty { return Outcome(shapeMatches: shape, result: .failure(Failure("\(name) must not be empty"))) }
                if inputs.contains(name) { input += text.count }
                if outputs.contains(name) { output += text.count }
            case let other?:
                return Outcome(shapeMatches: shape, result: .failure(Failure("\(name) must be a string, not \(other.typeName)")))
            }
        }
        return Outcome(shapeMatches: shape, result: .success((input, output)))
    }

    private static func conversation(
        _ object: JSONObject, field: String, roleKey: String, textKey: String, roles: [String], answer: String
    ) -> Outcome {
        guard let value = object[field] else { return Outcome(shapeMatches: false, result: .failure(Failure("missing \(field)"))) }
        guard case .array(let turns) = value, !turns.isEmpty else {
            return Outcome(shapeMatches: true, result: .failure(Failure("\(field) must be a non-empty array")))
        }
        var input = 0
        var output = 0
        var answered = false
        for (index, turn) in turns.enumerated() {
            let path = "\(field)[\(index)]"
            guard case .object(let message) = turn else {
                return Outcome(shapeMatches: true, result: .failure(Failure("\(path) must be an object, not \(turn.typeName)")))
            }
            guard case .string(let role)? = message[roleKey], roles.contains(role) else {
                return Outcome(shapeMatches: true, result: .failure(Failure("\(path).\(roleKey) must be one of \(roles.joined(separator: ", "))")))
            }
            guard case .string(let text)? = message[textKey] else {
                let found = message[textKey].map { "not \($0.typeName)" } ?? "missing"
                return Outcome(shapeMatches: true, result: .failure(Failure("\(path).\(textKey) must be a string (\(found))")))
            }
            if role == answer {
                answered = true
                output += text.count
            } else {
                input += text.count
            }
        }
        guard answered else { return Outcome(shapeMatches: true, result: .failure(Failure("\(field) has no \(answer) turn"))) }
        return Outcome(shapeMatches: true, result: .success((input, output)))
    }
}
