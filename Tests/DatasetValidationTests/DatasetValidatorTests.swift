import DatasetValidation
import Foundation
import JSON
import Testing

/// The streaming dataset validator, on hand-written lines and on the corpus in `DatasetCorpus/`.
@Suite struct DatasetValidatorTests {
    static let chat =
        #"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}"#
    static let share = #"{"conversations":[{"from":"human","value":"Hi"},{"from":"gpt","value":"Hello!"}]}"#
    static let alpaca = #"{"instruction":"Add","input":"1 2","output":"3"}"#
    static let dpo = #"{"prompt":"Q","chosen":"good","rejected":"bad"}"#
    static let text = #"{"text":"Once upon a time"}"#

    /// Validates `text` fed in chunks of `chunk` bytes.
    func validate(_ text: String, format: DatasetFormat? = nil, chunk: Int = 7) -> DatasetReport {
        var validator = DatasetValidator(format: format)
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            validator.feed(bytes[index..<min(bytes.count, index + chunk)])
            index += chunk
        }
        return validator.finish()
    }

    @Test(arguments: [
        (chat, DatasetFormat.chatml), (share, .sharegpt), (alpaca, .alpaca), (dpo, .dpo), (text, .text),
    ])
    func detectsEachFormatWithHighConfidence(line: String, format: DatasetFormat) {
        let report = validate(Array(repeating: line, count: 5).joined(separator: "\n") + "\n")
        #expect(report.format == format)
        #expect(report.confidence == "high")
        #expect(report.isValid)
        #expect(report.totalExamples == 5 && report.validExamples == 5 && report.errorCount == 0)
    }

    @Test func lineNumbersMatchTheFile() {
        let file =
            [
                Self.chat, "", "{not json", Self.chat, #"{"messages":[{"role":"user","content":"a"},{"role":"robot","content":"b"}]}"#,
                #"[1,2]"#, "   ", #"{"messages":[]}"#, Self.chat,
            ].joined(separator: "\r\n") + "\r\n"
        let report = validate(file, format: .chatml, chunk: 5)
        #expect(report.totalExamples == 7)
        #expect(report.validExamples == 3)
        #expect(report.errors.map(\.line) == [3, 5, 6, 8])
        #expect(report.errors[0].message == "Line 3: invalid JSON")
        #expect(report.errors[1].message == "Line 5: messages[1].role must be one of system, user, assistant, tool")
        #expect(report.errors[2].message == "Line 6: expected a JSON object, not array")
        #expect(report.errors[3].message == "Line 8: messages must be a non-empty array")
        #expect(!report.isValid)
    }

    @Test func aByteOrderMarkAndAMissingFinalNewlineAreFine() {
        let report = validate("\u{FEFF}" + Self.text + "\n" + Self.text, chunk: 1)
        #expect(report.totalExamples == 2)
        #expect(report.isValid)
        #expect(report.format == .text)
    }

    @Test func invalidUTF8IsReportedNotCrashedOn() {
        var validator = DatasetValidator(format: .text)
        validator.feed(Array(#"{"text":"ok"}"#.utf8) + [0x0A] + [0x7B, 0x22, 0x74, 0xFF, 0xFE, 0x22, 0x7D, 0x0A])
        let report = validator.finish()
        #expect(report.errors.map(\.message) == ["Line 2: invalid UTF-8"])
    }

    @Test func onlyTheFirst25ErrorsAreListedButAllAreCounted() {
        let report = validate(Array(repeating: "oops", count: 40).joined(separator: "\n"), format: .alpaca, chunk: 64)
        #expect(report.errorCount == 40)
        #expect(report.errors.count == 25)
        #expect(report.errors.last?.line == 25)
    }

    @Test func mixedFilesGetLowerConfidenceAndTheMajorityFormat() {
        let lines = Array(repeating: Self.alpaca, count: 7) + Array(repeating: Self.text, count: 3)
        let report = validate(lines.joined(separator: "\n"))
        #expect(report.format == .alpaca)
        #expect(report.confidence == "medium")
        #expect(report.errorCount == 3)
    }

    @Test func statsCountInputAndOutputCharacters() {
        let report = validate(Self.chat + "\n" + Self.chat + "\n", format: .chatml)
        // input: "Be brief." + "Hi" = 11, output: "Hello!" = 6, per example.
        #expect(report.averageInputCharacters == 11)
        #expect(report.averageOutputCharacters == 6)
        #expect(report.estimatedTokens == (34 + 3) / 4)
        #expect(report.json.jsonText.contains(#""stats":{"avg_input_chars":11.0,"avg_output_chars":6.0,"estimated_tokens":9}"#))
    }

    @Test func anEmptyFileIsNotValid() {
        let report = validate("\n\n")
        #expect(report.totalExamples == 0)
        #expect(!report.isValid)
    }

    @Test func memoryIsBoundedByTheLongestLine() {
        // Many lines fed in one chunk each: nothing accumulates but counters.
        var validator = DatasetValidator(format: .text)
        for _ in 0..<50_000 { validator.feed(Array((Self.text + "\n").utf8)) }
        let report = validator.finish()
        #expect(report.totalExamples == 50_000)
        #expect(report.isValid)
    }

    // MARK: Corpus

    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("DatasetCorpus")

    /// The report the reference script (`bench/datasets/reference_validator.py`) gave for each corpus file.
    static func expectations() throws -> [(file: String, expected: [String: JSONValue])] {
        let data = try Data(contentsOf: corpus.appendingPathComponent("expected.json"))
        guard case .object(let files) = try JSONValue.parse(Array(data)) else { return [] }
        return files.entries.compactMap { entry in
            guard case .object(let expected) = entry.value else { return nil }
            return (entry.key, Dictionary(expected.entries.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first }))
        }
    }

    @Test(arguments: [1, 7, 4096])
    func corpusReportsMatchTheReference(chunk: Int) throws {
        let cases = try Self.expectations()
        #expect(cases.count >= 20)
        for (file, expected) in cases {
            let bytes = Array(try Data(contentsOf: Self.corpus.appendingPathComponent(file)))
            var validator = DatasetValidator(format: nil)
            var index = 0
            while index < bytes.count {
                validator.feed(bytes[index..<min(bytes.count, index + chunk)])
                index += chunk
            }
            let report = validator.finish()
            let comment = Comment(rawValue: "\(file), chunks of \(chunk)")
            #expect(.bool(report.isValid) == expected["valid"], comment)
            #expect(.string(report.format.rawValue) == expected["format"], comment)
            #expect(.string(report.confidence) == expected["detected_confidence"], comment)
            #expect(.int(report.totalExamples) == expected["total_examples"], comment)
            #expect(.int(report.validExamples) == expected["valid_examples"], comment)
            #expect(.int(report.errorCount) == expected["error_count"], comment)
            #expect(.array(report.errors.map { .int($0.line) }) == expected["error_lines"], comment)
            #expect((report.errors.first.map { JSONValue.string($0.message) } ?? .null) == expected["first_error"], comment)
        }
    }

    @Test func aJSONArrayNamesElementsByPosition() throws {
        let bytes = Array(try Data(contentsOf: Self.corpus.appendingPathComponent("array.json")))
        for chunk in [1, 5, 4096] {
            var validator = DatasetValidator(format: nil, layout: nil)
            var index = 0
            while index < bytes.count {
                validator.feed(bytes[index..<min(bytes.count, index + chunk)])
                index += chunk
            }
            #expect(validator.layout == .jsonArray)
            let report = validator.finish()
            #expect(report.format == .chatml)
            #expect(report.totalExamples == 3 && report.validExamples == 2)
            #expect(report.errors.map(\.line) == [2])
            #expect(report.errors.map(\.message) == ["Element 2: messages[1].role must be one of system, user, assistant, tool"])
        }
    }

    @Test(arguments: [
        ("[", "Element 1: the JSON array is not closed with ]"),
        (#"[{"text":"a"},"#, "Element 2: the JSON array is not closed with ]"),
        (#"[{"text":"a"}] x"#, "Element 2: unexpected data after the JSON array"),
        (#"[{"text":"a"},,{"text":"b"}]"#, "Element 2: invalid JSON"),
        (#"{"text":"a"}"#, nil),
    ])
    func brokenArraysAreReportedNotCrashedOn(body: String, error: String?) {
        var validator = DatasetValidator(format: .text, layout: nil)
        validator.feed(Array(body.utf8))
        let report = validator.finish()
        #expect(report.errors.first?.message == error)
    }

    @Test func anEmptyArrayHasNoExamples() {
        var validator = DatasetValidator(format: nil, layout: .jsonArray)
        validator.feed(Array(" [ ] \n".utf8))
        let report = validator.finish()
        #expect(report.totalExamples == 0 && report.errorCount == 0 && !report.isValid)
    }

    @Test(arguments: [
        (#"{"text":"caf\u00e9 \ud83d\ude00"}"#, 6),  // escapes: é and one emoji (a surrogate pair) are one character each
        ("{\"text\":\"café 😀\"}", 6),
        (#"{"text":"a\"b\\c\/d\n"}"#, 8),
    ])
    func charactersAreUnicodeScalars(line: String, characters: Int) {
        var validator = DatasetValidator(format: .text)
        validator.feed(Array(line.utf8))
        let report = validator.finish()
        #expect(report.isValid)
        #expect(report.averageOutputCharacters == Double(characters))
    }

    @Test(arguments: [
        #"{"text": NaN}"#, #"{"text": "a",}"#, #"{"text": 01}"#, #"{"text": "\x"}"#, #"{"text": "a"} {"#, "{\"text\": \"tab\there\"}",
        #"{"text": "\ud83"}"#, #"{"text": 1.}"#, #"{"text": -}"#, #"{'text': 'a'}"#,
        String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
    ])
    func malformedJSONIsInvalid(line: String) {
        var validator = DatasetValidator(format: .text)
        validator.feed(Array(line.utf8))
        #expect(validator.finish().errors.map(\.message) == ["Line 1: invalid JSON"])
    }

    @Test func theLastDuplicateKeyWins() {
        var validator = DatasetValidator(format: .text)
        validator.feed(Array(#"{"text": 5, "text": "ok"}"#.utf8))
        #expect(validator.finish().isValid)
    }

    @Test func deepValuesAreCheckedThoughNotRecorded() {
        var validator = DatasetValidator(format: .text)
        validator.feed(Array(#"{"text":"a","x":[[[[[[1,2,{"a":[true,"\u00e9"]}]]]]]]}"#.utf8) + [0x0A])
        validator.feed(Array(#"{"text":"a","x":[[[[[[1,]]]]]]}"#.utf8) + [0x0A])
        validator.feed(Array("{\"text\":\"a\",\"x\":[[[[[[\"\u{FF}\"]]]]]]}".utf8.map { $0 == 0xC3 ? 0xFF : $0 }) + [0x0A])
        let report = validator.finish()
        #expect(report.validExamples == 1)
        #expect(report.errors.map(\.message) == ["Line 2: invalid JSON", "Line 3: invalid UTF-8"])
    }

    @Test func aLineWithTooManyValuesIsAnErrorNotAHugeTape() {
        var validator = DatasetValidator(format: .chatml)
        let turns = Array(repeating: "0", count: 300_000).joined(separator: ",")
        validator.feed(Array(#"{"messages":[\#(turns)]}"#.utf8) + [0x0A])
        validator.feed(Array(#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}"#.utf8))
        let report = validator.finish()
        #expect(report.validExamples == 1)
        #expect(report.errors.map(\.message) == ["Line 1: too many values on one line (more than 262144)"])
    }
}
