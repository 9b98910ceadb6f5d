import HTTPCore
import Testing

@testable import FastCGITransport

/// The head decoder on plain `NAME=VALUE` params, as libfcgi hands them over: what nginx's CGI variables and
/// `HTTP_*` params become in a `Request`, and what the transport refuses.
@Suite("Request head decoder")
struct RequestHeadDecoderTests {
    static func decode(_ params: [String], maxParamsBytes: Int = 64 << 10) -> (request: Request, declaredLength: Int?) {
        var decoder = RequestHeadDecoder(maxParamsBytes: maxParamsBytes)
        for param in params {
            Array(param.utf8).withUnsafeBufferPointer { decoder.take($0) }
        }
        return decoder.finish()
    }

    @Test func theCGIVariablesGiveMethodPathQueryAndPeer() {
        let (request, declared) = Self.decode([
            "SCRIPT_FILENAME=/srv/ftapi", "REQUEST_METHOD=POST", "DOCUMENT_URI=/api/training/jobs", "REQUEST_URI=/api/training/jobs?limit=5",
            "QUERY_STRING=limit=5&offset=0", "REMOTE_ADDR=10.0.0.7", "SERVER_NAME=api.example", "GATEWAY_INTERFACE=CGI/1.1",
        ])
        #expect(request.method == "POST")
        #expect(request.path == "/api/training/jobs")
        #expect(request.query == "limit=5&offset=0", "a value keeps its own '=' signs")
        #expect(request.remoteAddress == "10.0.0.7")
        #expect(request.headers.all.isEmpty, "CGI variables are no headers")
        #expect(request.rejection == nil)
        #expect(declared == nil)
    }

    @Test func noParamsAreAGETOfTheRoot() {
        let (request, declared) = Self.decode([])
        #expect(request.method == "GET" && request.path == "/" && request.query == "" && request.remoteAddress == "")
        #expect(request.rejection == nil && declared == nil)
    }

    @Test(arguments: [
        (["REQUEST_URI=/api/datasets/a%20b?x=%20"], "/api/datasets/a b"),
        (["DOCUMENT_URI=", "REQUEST_URI=/api/keys/%7Bid%7D"], "/api/keys/{id}"),
        (["REQUEST_URI=/bad/%zz/%4"], "/bad/%zz/%4"),
        (["REQUEST_URI=/api/x?"], "/api/x"),
        (["DOCUMENT_URI=/decoded by nginx", "REQUEST_URI=/ignored"], "/decoded by nginx"),
    ])
    func thePathIsNginxsDocumentURIElseTheDecodedPathOfTheRequestURI(_ params: [String], _ path: String) {
        #expect(Self.decode(params).request.path == path)
    }

    @Test func httpParamsBecomeLowercaseDashedHeaders() {
        let (request, _) = Self.decode([
            "HTTP_X_API_KEY=wak_123", "HTTP_AUTHORIZATION=Bearer t", "HTTP_ACCEPT_ENCODING=gzip", "HTTP_IF_NONE_MATCH=\"v1\"", "HTTP=not one",
            "HTTPS=on",
        ])
        #expect(
            request.headers.all == ["x-api-key": "wak_123", "authorization": "Bearer t", "accept-encoding": "gzip", "if-none-match": "\"v1\""])
        #expect(request.headers["X-API-Key"] == "wak_123", "found in any case")
    }

    /// A repeated field is its values joined, never the last one alone: a credential sent twice is malformed.
    @Test func aRepeatedHeaderIsItsValuesJoinedByCommas() {
        let (request, _) = Self.decode(["HTTP_AUTHORIZATION=Bearer a", "HTTP_ACCEPT=x", "HTTP_AUTHORIZATION=Bearer b"])
        #expect(request.headers["authorization"] == "Bearer a, Bearer b")
        #expect(request.headers.all.count == 2)
    }

    /// Past sixteen headers the decoder finds names by hashing instead of a scan; the joining must not change.
    @Test func aRepeatedHeaderAmongManyIsJoinedToo() {
        var params = (0..<40).map { "HTTP_X_H\($0)=v\($0)" }
        params += ["HTTP_X_H3=again", "HTTP_X_H39=again", "HTTP_X_H20=again", "HTTP_X_H3=thrice"]
        let headers = Self.decode(params).request.headers.all
        #expect(headers.count == 40)
        #expect(headers["x-h3"] == "v3, again, thrice")
        #expect(headers["x-h39"] == "v39, again")
        #expect(headers["x-h20"] == "v20, again")
        #expect(headers["x-h21"] == "v21")
    }

    @Test func contentTypeAndLengthComeFromTheCGIVariablesOverHTTPParams() {
        let (request, declared) = Self.decode([
            "HTTP_CONTENT_TYPE=text/plain", "HTTP_CONTENT_LENGTH=5", "CONTENT_TYPE=application/json", "CONTENT_LENGTH=012",
        ])
        #expect(request.headers.all == ["content-type": "application/json", "content-length": "12"])
        #expect(declared == 12)
        #expect(request.rejection == nil)
    }

    @Test func anEmptyContentLengthDeclaresNoBody() {
        let (request, declared) = Self.decode(["REQUEST_METHOD=GET", "CONTENT_LENGTH=", "CONTENT_TYPE="])
        #expect(declared == nil && request.rejection == nil)
        #expect(request.headers["content-length"] == nil && request.headers["content-type"] == nil)
    }

    @Test(arguments: ["abc", "-1", "1.5", " 12", "12 ", "0x10", "99999999999999999999999"])
    func aContentLengthThatIsNoNonNegativeNumberIsRefused(_ length: String) {
        let (request, declared) = Self.decode(["REQUEST_METHOD=POST", "CONTENT_LENGTH=\(length)"])
        #expect(request.rejection == .invalidContentLength, "\(length)")
        #expect(declared == nil || declared! < 0)
    }

    @Test func paramsUpToTheLimitAreTakenAndOneByteMoreIsRefused() {
        let params = ["REQUEST_METHOD=PUT", "DOCUMENT_URI=/api/x", "HTTP_X_PAD=" + String(repeating: "p", count: 100)]
        let total = params.reduce(0) { $0 + $1.utf8.count }
        let (taken, _) = Self.decode(params, maxParamsBytes: total)
        #expect(taken.rejection == nil)
        #expect(taken.method == "PUT" && taken.headers["x-pad"]?.count == 100)

        let (refused, declared) = Self.decode(params + ["CONTENT_LENGTH=4"], maxParamsBytes: total)
        #expect(refused.rejection == .paramsTooLarge(limit: total))
        #expect(declared == nil, "a refused head declares no body")
        #expect(refused.headers.all.isEmpty, "nothing of a refused head's fields is handed on")
    }

    @Test func paramsPastTheLimitAreCountedNotTaken() {
        let (request, _) = Self.decode(["HTTP_X_BIG=" + String(repeating: "b", count: 64), "REQUEST_METHOD=DELETE"], maxParamsBytes: 32)
        #expect(request.rejection == .paramsTooLarge(limit: 32))
        #expect(request.method == "GET", "the method came after the limit")
    }

    @Test func anEntryWithoutAnEqualsSignIsSkipped() {
        let (request, _) = Self.decode(["HTTP_X_FLAG", "REQUEST_METHOD", "REQUEST_METHOD=HEAD", "HTTP_X_EMPTY="])
        #expect(request.method == "HEAD")
        #expect(request.headers.all == ["x-empty": ""])
    }

    @Test func bytesThatAreNoUTF8AreReplacedNotTrusted() {
        var decoder = RequestHeadDecoder(maxParamsBytes: 1024)
        let entry = Array("HTTP_X_NAME=a".utf8) + [0xFF, 0xFE] + Array("b".utf8)
        entry.withUnsafeBufferPointer { decoder.take($0) }
        #expect(decoder.finish().request.headers["x-name"] == "a\u{FFFD}\u{FFFD}b")
    }
}
