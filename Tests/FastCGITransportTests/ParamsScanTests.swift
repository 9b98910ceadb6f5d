import FastCGITestSupport
import Testing

@testable import FastCGITransport

/// The scan of a connection's head before libfcgi reads it: nginx's requests pass, a pair that declares more than
/// the params limit (however records split it) is refused, and a head that is not all there asks for more.
@Suite("params scan")
struct ParamsScanTests {
    static let limit = 4096

    static func scan(_ bytes: [UInt8], limit: Int = Self.limit) -> ParamsScan {
        bytes.withUnsafeBytes { ParamsScan.scan($0, maxParamsBytes: limit) }
    }

    /// BEGIN_REQUEST, then one PARAMS record holding `pairBytes`.
    static func crafted(_ pairBytes: [UInt8]) -> [UInt8] {
        FastCGIPeer.beginRequest(keepConnection: true) + FastCGIPeer.record(.params, pairBytes)
    }

    @Test func nginxsRequestsPass() {
        let request = FastCGIPeer.request(
            method: "POST", path: "/api/training/jobs", params: [("HTTP_X_API_KEY", "wak_" + String(repeating: "k", count: 32))],
            body: Array(#"{"model_name":"m"}"#.utf8))
        #expect(Self.scan(request) == .safe)
        // Pairs of four-byte lengths, and records that split pairs and lengths, within the limit.
        let long =
            FastCGIPeer.beginRequest(keepConnection: false)
            + FastCGIPeer.params([("HTTP_COOKIE", String(repeating: "c", count: 3000)), ("DOCUMENT_URI", "/x")], recordBytes: 7)
        #expect(Self.scan(long) == .safe)
        // Management records before the request, and a body that follows, leave the verdict to libfcgi.
        #expect(Self.scan(FastCGIPeer.record(.getValues, id: 0) + request) == .safe)
        #expect(Self.scan(FastCGIPeer.beginRequest(keepConnection: true) + FastCGIPeer.stdin([1, 2, 3])) == .safe)
    }

    static func isRefused(_ scan: ParamsScan) -> Bool {
        if case .refused = scan { return true }
        return false
    }

    @Test func aPairThatDeclaresMoreThanTheLimitIsRefused() {
        // The record that aborted a worker: name and value lengths 0x7ffffffe, then 64 bytes.
        let abort: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFE] + [UInt8](repeating: 0x41, count: 64)
        #expect(Self.scan(Self.crafted(abort)) == .refused("a params pair declares a name of 2147483646 bytes, over the 9216-byte limit"))
        // Each length within the scan's limit (twice the params limit and 1 KiB), the two together over it.
        let pair = FastCGIPeer.nameValue([UInt8](repeating: 0x6E, count: 5000), [UInt8](repeating: 0x76, count: 5000))
        #expect(Self.isRefused(Self.scan(Self.crafted(Array(pair.prefix(8))))))
        // The lengths split across records, byte by byte.
        let split = FastCGIPeer.beginRequest(keepConnection: true) + abort.prefix(8).flatMap { FastCGIPeer.record(.params, [$0]) }
        #expect(Self.isRefused(Self.scan(split)))
        // The params in all past twice the limit and a bit.
        let many =
            FastCGIPeer.beginRequest(keepConnection: true)
            + FastCGIPeer.params((0..<200).map { ("HTTP_X_\($0)", String(repeating: "v", count: 60)) })
        #expect(Self.isRefused(Self.scan(many)))
    }

    @Test func aHeadNotAllThereAsksForMoreUntilItsParamsEnd() {
        let request = FastCGIPeer.request(path: "/api/health", params: [("HTTP_X_PAD", String(repeating: "p", count: 300))])
        // BEGIN_REQUEST (16 bytes), PARAMS (8 + content + padding), the empty PARAMS record (8), STDIN's end (8).
        let paramsEnd = request.count - 8
        for length in 0..<request.count {
            let scan = Self.scan(Array(request.prefix(length)))
            if length >= paramsEnd {
                #expect(scan == .safe, "\(length)")
            } else if case .needs(let wanted) = scan {
                #expect(wanted > length && wanted <= paramsEnd, "\(length): \(wanted)")
            } else {
                Issue.record("\(length) bytes: \(scan)")
            }
        }
    }
}
