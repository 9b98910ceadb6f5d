public import JSON

#if canImport(Glibc)
import Glibc
#endif

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

/// Validates a dataset as its bytes arrive: JSON Lines split at newlines, or
/// the elements of one JSON array. Memory stays bounded by the longest line
/// (or element) plus the bytes not yet split, never by the file.
///
/// With no format given, every example is checked against all five formats
/// at once and the report is for the format most examples satisfy, so
/// nothing has to be kept back for detection.
public struct DatasetValidator {
    public static let maximumReportedErrors = 25

    /// How examples are laid out in the bytes.
    public enum Layout: Sendable {
        /// One example per line; errors name the line (1-based, blank lines counted).
        case jsonLines
        /// One JSON array of examples; errors name the element by its position (1-based).
        case jsonArray
    }

    private struct Tally {
        var valid = 0
        var shapeMatches = 0
        var errorCount = 0
        var errors: [DatasetReport.LineError] = []
        var inputCharacters = 0
        var outputCharacters = 0

        mutating func record(_ verdict: DatasetVerdict, at number: Int, label: String) {
            if verdict.shapeMatches { shapeMatches += 1 }
            if let fault = verdict.fault {
                errorCount += 1
                if errors.count < DatasetValidator.maximumReportedErrors {
                    errors.append(DatasetReport.LineError(line: number, message: "\(label) \(number): \(fault.message)"))
                }
            } else {
                valid += 1
                inputCharacters += verdict.inputCharacters
                outputCharacters += verdict.outputCharacters
            }
        }
    }

    private enum ArrayState {
        case beforeArray
        case beforeElement(first: Bool)
        case inElement, closed, broken
    }

    private let requested: DatasetFormat?
    private let checked: [DatasetFormat]
    private var tallies: [Tally]
    /// Nil until the first byte that is not whitespace tells (`[` starts an array).
    public private(set) var layout: Layout?
    private var parser = JSONTapeParser()
    /// The start of a line (or element) whose end has not arrived yet.
    private var pending: [UInt8] = []
    private var lineNumber = 0
    private var examples = 0
    private var startChecked = false
    private var arrayState = ArrayState.beforeArray
    private var depth = 0
    private var inString = false
    private var escapeNext = false

    /// Bytes fed so far.
    public private(set) var byteCount = 0

    /// - Parameters:
    ///   - format: the format to check, or nil to detect it.
    ///   - layout: JSON Lines or a JSON array; nil to tell from the first
    ///     byte that is not whitespace (`[` for an array).
    public init(format: DatasetFormat?, layout: Layout? = .jsonLines) {
        requested = format
        checked = format.map { [$0] } ?? DatasetFormat.allCases
        tallies = Array(repeating: Tally(), count: checked.count)
        self.layout = layout
    }

    /// Feeds the next bytes of the file.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        byteCount += bytes.count
        let chunk = bytes.assumingMemoryBound(to: UInt8.self)
        if !startChecked {
            // A byte-order mark may be split across feeds: hold the first bytes until it can be told.
            pending.append(contentsOf: chunk)
            let mark: [UInt8] = [0xEF, 0xBB, 0xBF]
            if pending.count < 3, mark.starts(with: pending) { return }
            startChecked = true
            var head: [UInt8] = []
            swap(&head, &pending)
            if head.starts(with: mark) { head.removeFirst(3) }
            head.withUnsafeBufferPointer { process($0) }
            return
        }
        process(chunk)
    }

    /// Feeds the next bytes of the file.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        let fed: Void? = bytes.withContiguousStorageIfAvailable { feed(UnsafeRawBufferPointer($0)) }
        if fed == nil { Array(bytes).withUnsafeBytes { feed($0) } }
    }

    /// Ends the input (a last line without a newline counts; a trailing
    /// newline adds no line) and reports on `format`, or on the format given
    /// at init, or on the detected one.
    public mutating func finish(format: DatasetFormat? = nil) -> DatasetReport {
        if !startChecked {
            startChecked = true
            if pending.starts(with: [0xEF, 0xBB, 0xBF]) { pending.removeFirst(3) }
            var head: [UInt8] = []
            swap(&head, &pending)
            head.withUnsafeBufferPointer { process($0) }
        }
        if layout == nil {
            // Nothing but whitespace: blank lines.
            layout = .jsonLines
            var head: [UInt8] = []
            swap(&head, &pending)
            head.withUnsafeBufferPointer { process($0) }
        }
        switch layout! {
        case .jsonLines:
            if !pending.isEmpty { validatePending() }
        case .jsonArray:
            switch arrayState {
            case .beforeElement, .inElement: recordForAll(.arrayNotClosed)
            case .beforeArray, .closed, .broken: break
            }
            arrayState = .closed
        }
        return report(on: format ?? requested)
    }

    private func report(on format: DatasetFormat?) -> DatasetReport {
        let chosen: Int
        let confidence: String
        if let format, let index = checked.firstIndex(of: format) {
            chosen = index
            confidence = "high"
        } else {
            chosen = tallies.indices.max { a, b in
                // Ties go to the earlier format: max returns the last of equals, so compare indices reversed.
                (tallies[a].valid, tallies[a].shapeMatches, b) < (tallies[b].valid, tallies[b].shapeMatches, a)
            }!
            let share = examples == 0 ? 0 : Double(tallies[chosen].shapeMatches) / Double(examples)
            confidence = share >= 0.9 ? "high" : share >= 0.6 ? "medium" : "low"
        }
        let tally = tallies[chosen]
        let input = tally.valid == 0 ? 0 : Double(tally.inputCharacters) / Double(tally.valid)
        let output = tally.valid == 0 ? 0 : Double(tally.outputCharacters) / Double(tally.valid)
        return DatasetReport(
            format: checked[chosen], confidence: confidence, totalExamples: examples, validExamples: tally.valid,
            errorCount: tally.errorCount, errors: tally.errors, averageInputCharacters: input, averageOutputCharacters: output,
            estimatedTokens: (tally.inputCharacters + tally.outputCharacters + 3) / 4
        )
    }

    private mutating func process(_ chunk: UnsafeBufferPointer<UInt8>) {
        switch layout {
        case .jsonLines: splitLines(chunk)
        case .jsonArray: splitElements(chunk)
        case nil:
            guard let first = chunk.firstIndex(where: { !Self.isWhitespace($0) }) else {
                pending.append(contentsOf: chunk)
                return
            }
            layout = chunk[first] == UInt8(ascii: "[") ? .jsonArray : .jsonLines
            var head: [UInt8] = []
            swap(&head, &pending)
            head.append(contentsOf: chunk)
            head.withUnsafeBufferPointer { process($0) }
        }
    }

    // MARK: JSON Lines

    private mutating func splitLines(_ chunk: UnsafeBufferPointer<UInt8>) {
        guard let base = chunk.baseAddress else { return }
        var start = 0
        while start < chunk.count {
            guard let found = memchr(base + start, 0x0A, chunk.count - start) else {
                pending.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[start...]))
                return
            }
            let newline = UnsafeRawPointer(found).assumingMemoryBound(to: UInt8.self) - base
            if pending.isEmpty {
                validateLine(UnsafeBufferPointer(rebasing: chunk[start..<newline]))
            } else {
                pending.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[start..<newline]))
                validatePending()
            }
            start = newline + 1
        }
    }

    private mutating func validatePending() {
        var line: [UInt8] = []
        swap(&line, &pending)
        line.withUnsafeBufferPointer { validateLine($0) }
        line.removeAll(keepingCapacity: true)
        swap(&line, &pending)
    }

    private mutating func validateLine(_ raw: UnsafeBufferPointer<UInt8>) {
        lineNumber += 1
        var line = raw
        if line.last == 0x0D { line = UnsafeBufferPointer(rebasing: line.dropLast()) }
        guard line.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { return }  // blank: counted, not an example
        validateExample(line, number: lineNumber, label: "Line")
    }

    private mutating func validateExample(_ bytes: UnsafeBufferPointer<UInt8>, number: Int, label: String) {
        examples += 1
        switch parser.parse(bytes) {
        case nil: break
        case .invalidJSON?: return recordForAll(.invalidJSON, number: number, label: label)
        case .invalidUTF8?: return recordForAll(.invalidUTF8, number: number, label: label)
        case .tooManyValues?: return recordForAll(.tooManyValues, number: number, label: label)
        }
        guard parser.entries[0].kind == .object else {
            return recordForAll(.notAnObject(parser.entries[0].kind), number: number, label: label)
        }
        for index in checked.indices {
            tallies[index].record(DatasetRules.check(parser, bytes, as: checked[index]), at: number, label: label)
        }
    }

    /// An example that fails before any format's rules apply.
    private mutating func recordForAll(_ fault: DatasetFault, number: Int, label: String) {
        for index in tallies.indices {
            tallies[index].record(DatasetVerdict(shapeMatches: false, fault: fault), at: number, label: label)
        }
    }

    /// A fault in the array itself rather than in an element: an error
    /// (named by the position of the element it stopped at), not an example.
    private mutating func recordForAll(_ fault: DatasetFault) {
        recordForAll(fault, number: lineNumber + 1, label: "Element")
    }

    // MARK: JSON array

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// Splits the array's elements by tracking nesting and strings, and
    /// validates each as it completes. `lineNumber` counts the elements done;
    /// errors name an element by its 1-based position.
    private mutating func splitElements(_ chunk: UnsafeBufferPointer<UInt8>) {
        var index = 0
        while index < chunk.count {
            let byte = chunk[index]
            switch arrayState {
            case .broken:
                return
            case .beforeArray:
                if byte == UInt8(ascii: "[") {
                    arrayState = .beforeElement(first: true)
                } else if !Self.isWhitespace(byte) {
                    recordForAll(.notAnArray)
                    arrayState = .broken
                }
            case .closed:
                if !Self.isWhitespace(byte) {
                    recordForAll(.afterArray)
                    arrayState = .broken
                }
            case .beforeElement(let first):
                if Self.isWhitespace(byte) { break }
                if first && byte == UInt8(ascii: "]") {
                    arrayState = .closed
                    break
                }
                arrayState = .inElement
                depth = 0
                inString = false
                escapeNext = false
                continue  // the same byte again, now inside the element
            case .inElement:
                if inString {
                    if escapeNext {
                        escapeNext = false
                    } else if byte == UInt8(ascii: "\\") {
                        escapeNext = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                } else if depth == 0 && (byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]")) {
                    validatePendingElement()
                    arrayState = byte == UInt8(ascii: ",") ? .beforeElement(first: false) : .closed
                    index += 1
                    continue
                } else if byte == UInt8(ascii: "\"") {
                    inString = true
                } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                    depth += 1
                } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                    depth -= 1
                }
                pending.append(byte)
            }
            index += 1
        }
    }

    private mutating func validatePendingElement() {
        var element: [UInt8] = []
        swap(&element, &pending)
        lineNumber += 1
        let number = lineNumber
        element.withUnsafeBufferPointer { validateExample($0, number: number, label: "Element") }
        element.removeAll(keepingCapacity: true)
        swap(&element, &pending)
    }
}
