import JSON
import Testing

@Suite("JSON parser and serializer")
struct JSONTests {
    func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try JSONValue.parse(Array(text.utf8))
    }

    func rejects(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: JSONParseError.self, "\(text) should be rejected", sourceLocation: sourceLocation) { try parse(text) }
    }

    @Test func parsesValidDocuments() throws {
        let value = try parse(#" { "a" : [1, -2, 2.5, -3e2, 1E+2, 0, -0.5, true, false, null, "x"], "b": {}, "c": [], "d": {"e": ""} } "#)
        let expected = JSONValue.object(
            JSONObject([
                (
                    "a",
                    .array([
                        .int(1), .int(-2), .double(2.5), .double(-300), .double(100), .int(0), .double(-0.5), .bool(true),
                        .bool(false), .null, .string("x"),
                    ])
                ),
                ("b", .object(JSONObject())), ("c", .array([])), ("d", .object(JSONObject([("e", .string(""))]))),
            ]))
        #expect(value == expected)
        // Keys keep their order.
        guard case .object(let object) = value else {
            Issue.record("not an object")
            return
        }
        #expect(object.keys == ["a", "b", "c", "d"])
    }

    @Test func parsesScalarsAtTopLevel() throws {
        #expect(try parse("42") == .int(42))
        #expect(try parse("\"hi\"") == .string("hi"))
        #expect(try parse("null") == .null)
        #expect(try parse(" true\n") == .bool(true))
        #expect(try parse("9223372036854775807") == .int(Int64.max))
        #expect(try parse("-9223372036854775808") == .int(Int64.min))
        // Too big for Int64: still a (finite) number.
        #expect(try parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try parse("1e308") == .double(1e308))
    }

    @Test func decodesEscapesAndUnicode() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{08}\u{0C}\n\r\t"))
        #expect(try parse(#""\u00e9\u4e2d""#) == .string("é中"))
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(try parse("\"é😀\"") == .string("é😀"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
    }

    @Test func toleratesByteOrderMark() throws {
        #expect(try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array("{}".utf8)) == .object(JSONObject()))
    }

    @Test(arguments: ["{} x", "{}{}", "1 2", "[1]]", "\"a\" \"b\"", "null,", "01", "-01", "00"])
    func rejectsTrailingData(_ text: String) {
        rejects(text)
    }

    @Test func rejectsDuplicateKeys() {
        rejects(#"{"a":1,"a":2}"#)
        rejects(#"{"a":1,"b":{"c":1,"c":1}}"#)
        rejects(#"[{"x":null,"y":0,"x":null}]"#)
        // Same key in sibling objects is fine.
        #expect((try? parse(#"[{"a":1},{"a":2}]"#)) != nil)
        // Keys that differ only after unescaping are duplicates.
        rejects(#"{"a":1,"\u0061":2}"#)
    }

    /// The objects of an array repeat their keys, which the parser then takes from the keys it has seen: each
    /// must still be the key its bytes spell, and a repeated one still a duplicate.
    @Test func repeatedKeysOfAnArrayKeepTheirValues() throws {
        let value = try parse(#"[{"ab":1,"ba":2,"":3},{"ba":4,"ab":5,"":6},{"a\u0062":7,"abc":8}]"#)
        guard case .array(let objects) = value else {
            Issue.record("not an array: \(value)")
            return
        }
        let pairs = objects.map { object -> [String] in
            guard case .object(let members) = object else { return [] }
            return members.entries.map { "\($0.key)=\($0.value)" }
        }
        #expect(pairs == [["ab=int(1)", "ba=int(2)", "=int(3)"], ["ba=int(4)", "ab=int(5)", "=int(6)"], ["ab=int(7)", "abc=int(8)"]])
        rejects(#"[{"a":1},{"a":2,"a":3}]"#)
        rejects(#"[{"ab":1},{"ab":2,"a\u0062":3}]"#)
    }

    /// Past the keys compared one by one, duplicates are still found: one of the early keys, and one of the late.
    @Test func rejectsDuplicateKeysOfLargeObjects() {
        let keys = (0..<40).map { "\"k\($0)\":\($0)" }
        #expect((try? parse("{" + keys.joined(separator: ",") + "}")) != nil)
        rejects("{" + (keys + [#""k3":0"#]).joined(separator: ",") + "}")
        rejects("{" + (keys + [#""k39":0"#]).joined(separator: ",") + "}")
        rejects("{" + (keys[0..<20] + [#""k19":0"#]).joined(separator: ",") + "}")
        rejects("{" + (keys[0..<10] + [#""k2":0"#]).joined(separator: ",") + "}")
    }

    @Test(arguments: ["1e999", "-1e999", "1E400", "[1e999]", #"{"n":123e99999}"#])
    func rejectsOverflowingNumbers(_ text: String) {
        rejects(text)
    }

    @Test(arguments: [#""\ud800""#, #""\udc00""#, #""\ud800x""#, #""\ud800\u0041""#, #""\udfff\ud800""#, #""\ud83d\ud83d""#])
    func rejectsLoneSurrogates(_ text: String) {
        rejects(text)
    }

    @Test func nestingDepthIsLimitedTo64() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect((try? parse(ok)) != nil)
        rejects(String(repeating: "[", count: 65) + String(repeating: "]", count: 65))
        let objects = String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65)
        rejects(objects)
        let mixed = String(repeating: #"[{"a":"#, count: 33) + "1" + String(repeating: "}]", count: 33)
        rejects(mixed)
        // Deep input must fail cleanly, not overflow the stack.
        rejects(String(repeating: "[", count: 100_000))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "[,1]", #"{"a":1,}"#, #"{"a"}"#, #"{a:1}"#, "'a'", "tru", "nul", "True", "NaN", "Infinity",
        "+1", ".5", "1.", "1e", "1e+", "0x10", "\"\t\"", "\"a\nb\"", #""\x""#, #""\u12""#, #""\u12G4""#, "\"abc",
    ])
    func rejectsMalformedDocuments(_ text: String) {
        rejects(text)
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x22]) }
    }

    @Test func errorReportsOffset() throws {
        let error = try #require(throws: JSONParseError.self) { try parse(#"{"a":1} x"#) }
        #expect(error.offset == 8)
    }

    // MARK: Serializer

    @Test(arguments: [
        "plain", "", "quote\" backslash\\ slash/", "new\nline\r\ttab", "\u{0}\u{1}\u{1F}\u{7F}", "é中😀", "\u{2028}\u{2029}",
        "mixed \"😀\"\n\\u0041",
    ])
    func stringsRoundTrip(_ text: String) throws {
        let value = JSONValue.object(JSONObject([(text, .array([.string(text)]))]))
        let bytes = value.serialized()
        #expect(try JSONValue.parse(bytes) == value)
        // No raw control characters on the wire.
        #expect(!bytes.contains { $0 < 0x20 })
    }

    @Test func serializesCompactly() {
        let value = JSONValue.object(
            JSONObject([
                ("s", .string("a\"b\\c\nd\u{1}")), ("i", .int(-7)), ("d", .double(2.5)), ("w", .double(3)), ("b", .bool(false)),
                ("n", .null), ("a", .array([.int(1), .string("é")])),
            ]))
        #expect(value.jsonText == #"{"s":"a\"b\\c\nd\u0001","i":-7,"d":2.5,"w":3.0,"b":false,"n":null,"a":[1,"é"]}"#)
    }

    @Test(arguments: [Int64.min, Int64.min + 1, -10, -1, 0, 1, 9, 10, 99, 100, 1_234_567_890, Int64.max])
    func integersAreWrittenAsTheirDecimalDigits(_ number: Int64) {
        #expect(JSONValue.int(number).jsonText == String(number))
    }

    @Test func escapesAtEitherEndOfAStringAreWritten() {
        #expect(JSONValue.string("\"middle\n").jsonText == #""\"middle\n""#)
        #expect(JSONValue.string("\u{1}").jsonText == #""\u0001""#)
    }

    @Test(arguments: [0.1, -2.75, 1e-7, 1e20, 123456789.125, Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude])
    func doublesRoundTrip(_ number: Double) throws {
        let bytes = JSONValue.double(number).serialized()
        #expect(try JSONValue.parse(bytes) == .double(number), "\(String(decoding: bytes, as: UTF8.self))")
    }

    @Test func nonFiniteDoublesBecomeNull() {
        #expect(JSONValue.double(Double.nan).jsonText == "null")
        #expect(JSONValue.double(Double?.some(.infinity)) == .null)
        #expect(JSONValue.double(Double.infinity).jsonText == "null")
    }

    /// Every character that needs an escape, at every position of ASCII strings around the eight bytes the
    /// serializer skips at once, written as plain byte-by-byte escaping would and read back whole.
    @Test func escapesAtEveryPositionOfLongStrings() throws {
        func escapedByteByByte(_ text: String) -> String {
            var out = "\""
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): out += "\\\""
                case UInt8(ascii: "\\"): out += "\\\\"
                case 0x0A: out += "\\n"
                case 0x0D: out += "\\r"
                case 0x09: out += "\\t"
                case ..<0x20: out += "\\u00" + String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16)
                default: out += String(UnicodeScalar(byte))
                }
            }
            return out + "\""
        }
        for special in ["\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1F}", "\u{00}"] {
            for length in [7, 8, 9, 16, 23] {
                for position in 0..<length {
                    let text = String(repeating: "a", count: position) + special + String(repeating: "z", count: length - position)
                    var written: [UInt8] = []
                    JSONValue.writeString(text, to: &written)
                    #expect(String(decoding: written, as: UTF8.self) == escapedByteByByte(text))
                    #expect(try JSONValue.parse(written) == .string(text))
                }
            }
        }
        for text in ["", "é", "plain ascii of more than eight bytes", "ü🙂 \u{7F} ~ 0x80"] {
            var written: [UInt8] = []
            JSONValue.writeString(text, to: &written)
            #expect(try JSONValue.parse(written) == .string(text))
        }
    }

    @Test func hundredthsAreWrittenAsDoubleDescriptionWritesThem() {
        for hundredths: Int64 in [0, 1, 5, 7, 10, 50, 99, 100, 105, 110, 1234, 100_000, 123_456_789, -1, -150] {
            var written: [UInt8] = []
            JSONValue.writeHundredths(hundredths, to: &written)
            #expect(String(decoding: written, as: UTF8.self) == (Double(hundredths) / 100).description, "\(hundredths)")
        }
    }
}
