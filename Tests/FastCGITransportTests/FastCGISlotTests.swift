import Essentials
import FastCGITestSupport
import Foundation
import HTTPCore
import Testing

@testable import FastCGITransport

#if canImport(Glibc)
import Glibc
#endif

/// A slot of one connection (as the pool's event dispatch makes them) on one end of a socketpair, nginx's records
/// written by hand on the other: the head and body that reach the application, the limits that refuse them, the
/// response records that go back, and the connection kept or closed after each request.
@Suite("FastCGI slot over a socketpair")
struct FastCGISlotTests {
    static let limits = TransportLimits(maxBodyBytes: 1_000, maxParamsBytes: 4_096)

    /// A slot on a new socketpair, and nginx's end of it.
    static func connection(limits: TransportLimits = Self.limits, admission: StreamedBodyAdmission? = nil) throws -> Connection {
        try #require(FastCGITestLibrary.isInitialized)
        let (fd, peer) = try FastCGIPeer.socketPair()
        return Connection(slot: FastCGISlot(connectionFD: fd, limits: limits, admission: admission), peer: peer)
    }

    /// A slot and its peer. libfcgi closes a connection by shutting its writing side down and reading until the
    /// peer closes too (for up to 2 s): the peer closes first, so that a test never waits for that.
    final class Connection {
        let slot: FastCGISlot
        let peer: FastCGIPeer

        init(slot: FastCGISlot, peer: FastCGIPeer) {
            self.slot = slot
            self.peer = peer
        }

        deinit { peer.close() }

        /// Finishes a request whose connection the slot closes: on another thread, since the close waits for the
        /// peer's; reads the response and the end of the connection, then closes the peer. Returns the response,
        /// and whether the peer saw the connection end, with nothing after the response but the empty record that
        /// tells a web server which asked to keep the connection not to (`trailer`).
        func finishClosing(with response: Response, closeConnection: Bool = false) throws -> (FastCGIResponse, ended: Bool) {
            let finished = DispatchSemaphore(value: 0)
            let slot = slot
            Thread {
                slot.finish(with: response, closeConnection: closeConnection)
                finished.signal()
            }.start()
            defer {
                peer.close()
                finished.wait()
            }
            let answer = try peer.readResponse()
            guard let rest = peer.readToEnd() else { return (answer, false) }
            return (answer, rest.isEmpty || rest == FastCGISlotTests.trailer(id: answer.requestID))
        }
    }

    /// What a slot sends after the end of a request whose connection it closes though nginx asked to keep it: an
    /// empty STDERR record, so that nginx drops the connection itself (it keeps one only when the request's end is
    /// the last thing it read).
    static func trailer(id: UInt16) -> [UInt8] { FastCGIPeer.record(.stderr, id: id) }

    /// Reads the accepted request as the worker does: head, then body as `handling` says.
    static func read(_ slot: FastCGISlot, as handling: BodyHandling = .buffered) -> Request {
        var request = slot.readHead()
        slot.readBody(of: &request, as: handling)
        return request
    }

    static func echo(_ request: Request) -> Response {
        Response(
            status: .ok, headers: [("Content-Type", "text/plain"), ("X-Method", request.method), ("X-Path", request.path)],
            body: Array("\(request.query)|".utf8) + request.body)
    }

    @Test func aRequestArrivesWholeAndItsResponseGoesBackInRecords() throws {
        let c = try Self.connection()
        let body = Array("{\"model\":\"m\"}".utf8)
        try c.peer.send(
            FastCGIPeer.request(
                id: 7, method: "POST", path: "/api/training/jobs", query: "dry=1",
                params: [("HTTP_X_API_KEY", "wak_1"), ("CONTENT_TYPE", "application/json")],
                body: body))
        #expect(c.slot.accept())
        let request = Self.read(c.slot)
        #expect(request.method == "POST" && request.path == "/api/training/jobs" && request.query == "dry=1")
        #expect(request.headers["x-api-key"] == "wak_1" && request.headers["content-type"] == "application/json")
        #expect(request.headers["content-length"] == String(body.count))
        #expect(request.remoteAddress == "127.0.0.1")
        #expect(request.body == body && request.rejection == nil)

        c.slot.finish(with: Self.echo(request), closeConnection: false)
        let response = try c.peer.readResponse()
        #expect(response.requestID == 7 && response.protocolStatus == 0 && response.appStatus == 0)
        #expect(response.status == 200)
        #expect(
            String(decoding: response.stdout, as: UTF8.self)
                == "Status: 200 OK\r\nContent-Type: text/plain\r\nX-Method: POST\r\nX-Path: /api/training/jobs\r\nContent-Length: \(6 + body.count)\r\n\r\n"
                + "dry=1|{\"model\":\"m\"}")
    }

    @Test func aKeptConnectionServesRequestsInTurnAndEndsWhenThePeerCloses() throws {
        let c = try Self.connection()
        for id in UInt16(1)...3 {
            try c.peer.send(FastCGIPeer.request(id: id, method: "PUT", path: "/n/\(id)", body: Array("body \(id)".utf8)))
            #expect(c.slot.accept())
            let request = Self.read(c.slot)
            #expect(request.path == "/n/\(id)" && request.body == Array("body \(id)".utf8))
            c.slot.finish(with: Self.echo(request), closeConnection: false)
            let response = try c.peer.readResponse()
            #expect(response.requestID == id && response.text == "|body \(id)")
            #expect(c.slot.connectionFD >= 0, "kept for the next request")
        }
        c.peer.close()
        #expect(!c.slot.accept(), "the connection ended")
        #expect(c.slot.connectionFD == -1, "libfcgi closed it")
    }

    @Test func aRequestWithoutKeepConnectionIsTheConnectionsLast() throws {
        let c = try Self.connection()
        try c.peer.send(FastCGIPeer.request(keepConnection: false, path: "/once"))
        #expect(c.slot.accept())
        let (response, ended) = try c.finishClosing(with: Self.echo(Self.read(c.slot)))
        #expect(response.status == 200 && response.requestID == 1)
        #expect(ended)
        #expect(c.slot.connectionFD == -1)
    }

    @Test func closingTheConnectionAfterAResponseEndsIt() throws {
        let c = try Self.connection()
        try c.peer.send(FastCGIPeer.request(path: "/drain"))
        #expect(c.slot.accept())
        let (response, ended) = try c.finishClosing(with: Self.echo(Self.read(c.slot)), closeConnection: true)
        #expect(response.status == 200, "the answer still goes out")
        #expect(ended)
        #expect(c.slot.connectionFD == -1)
    }

    @Test func aKeptConnectionThatClosesTellsNginxNotToKeepIt() throws {
        let c = try Self.connection()
        try c.peer.send(FastCGIPeer.request(id: 3, keepConnection: true, path: "/drain"))
        #expect(c.slot.accept())
        let finished = DispatchSemaphore(value: 0)
        let slot = c.slot
        let request = Self.read(slot)
        Thread {
            slot.finish(with: Self.echo(request), closeConnection: true)
            finished.signal()
        }.start()
        defer {
            c.peer.close()
            finished.wait()
        }
        let response = try c.peer.readResponse()
        #expect(response.status == 200 && response.requestID == 3)
        // Right after the request's end, in the same write, so nginx reads it with the end and drops the connection.
        #expect(c.peer.readToEnd() == Self.trailer(id: 3))
    }

    /// Params cut into records of 7 bytes (so that names, lengths and values straddle records), with a value of
    /// 300 bytes (a four-byte length), decode as sent.
    @Test func paramsSplitAcrossRecordsDecodeAsSent() throws {
        let c = try Self.connection()
        let long = String(repeating: "x", count: 300)
        let params = [("REQUEST_METHOD", "PATCH"), ("DOCUMENT_URI", "/api/keys/1"), ("HTTP_X_LONG", long), ("QUERY_STRING", "a=1")]
        try c.peer.send(
            FastCGIPeer.beginRequest(keepConnection: true) + FastCGIPeer.params(params, recordBytes: 7) + FastCGIPeer.stdin([]))
        #expect(c.slot.accept())
        let request = Self.read(c.slot)
        #expect(request.method == "PATCH" && request.path == "/api/keys/1" && request.query == "a=1")
        #expect(request.headers["x-long"] == long)
    }

    @Test func aBodyArrivingInManyRecordsIsReadWhole() throws {
        let c = try Self.connection()
        let body = (0..<900).map { UInt8($0 % 251) }
        try c.peer.send(
            FastCGIPeer.beginRequest(keepConnection: true)
                + FastCGIPeer.params([("REQUEST_METHOD", "POST"), ("DOCUMENT_URI", "/b"), ("CONTENT_LENGTH", "900")])
                + FastCGIPeer.stdin(body, recordBytes: 100))
        #expect(c.slot.accept())
        #expect(Self.read(c.slot).body == body)
    }

    /// A declared body over the limit is refused unread, drained, and the connection serves on.
    @Test func aDeclaredBodyOverTheLimitIsRefusedAndTheConnectionServesOn() throws {
        let c = try Self.connection()
        let body = [UInt8](repeating: 1, count: 1_001)
        try c.peer.send(FastCGIPeer.request(id: 1, method: "POST", path: "/big", body: body))
        #expect(c.slot.accept())
        let refused = Self.read(c.slot)
        #expect(refused.rejection == .bodyTooLarge(limit: 1_000))
        #expect(refused.body.isEmpty)
        c.slot.finish(with: Response(status: .contentTooLarge), closeConnection: false)
        #expect(try c.peer.readResponse().status == 413)

        try c.peer.send(FastCGIPeer.request(id: 2, method: "POST", path: "/small", body: [2, 3]))
        #expect(c.slot.accept())
        let next = Self.read(c.slot)
        #expect(next.path == "/small" && next.body == [2, 3] && next.rejection == nil)
    }

    /// Without a CONTENT_LENGTH the limit holds on what arrives.
    @Test func anUndeclaredBodyOverTheLimitIsRefused() throws {
        let c = try Self.connection()
        try c.peer.send(
            FastCGIPeer.beginRequest(keepConnection: true) + FastCGIPeer.params([("REQUEST_METHOD", "POST"), ("DOCUMENT_URI", "/big")])
                + FastCGIPeer.stdin([UInt8](repeating: 1, count: 1_500)))
        #expect(c.slot.accept())
        #expect(Self.read(c.slot).rejection == .bodyTooLarge(limit: 1_000))
    }

    @Test func aBodyEndingBeforeItsContentLengthIsIncomplete() throws {
        let c = try Self.connection()
        try c.peer.send(
            FastCGIPeer.beginRequest(keepConnection: true)
                + FastCGIPeer.params([("REQUEST_METHOD", "POST"), ("DOCUMENT_URI", "/short"), ("CONTENT_LENGTH", "10")])
                + FastCGIPeer.stdin(Array("four".utf8)))
        #expect(c.slot.accept())
        let request = Self.read(c.slot)
        #expect(request.rejection == .bodyIncomplete)
        #expect(request.body.isEmpty)
    }

    @Test func aHeadOverTheParamsLimitIsRefusedWithTheLimit() throws {
        var limits = Self.limits
        limits.maxParamsBytes = 200
        let c = try Self.connection(limits: limits)
        try c.peer.send(FastCGIPeer.request(path: "/h", params: [("HTTP_X_PAD", String(repeating: "p", count: 300))]))
        #expect(c.slot.accept())
        let request = Self.read(c.slot)
        #expect(request.rejection == .paramsTooLarge(limit: 200))
        c.slot.finish(with: Response(status: .headerFieldsTooLarge), closeConnection: false)
        #expect(try c.peer.readResponse().status == 431)
    }

    @Test func aStreamedBodyIsReadAsItArrivesToItsEnd() throws {
        let c = try Self.connection()
        let body = (0..<5_000).map { UInt8($0 % 256) }
        // Over the buffered limit: a streamed route has its own.
        try c.peer.send(FastCGIPeer.request(method: "POST", path: "/upload", body: body))
        #expect(c.slot.accept())
        let request = Self.read(c.slot, as: .streamed(maxBytes: 10_000))
        #expect(request.rejection == nil && request.body.isEmpty)
        let stream = try #require(request.bodyStream)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 700)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
            if count == 0 { break }
            received += buffer[..<count]
        }
        #expect(received == body)
        #expect(c.slot.streamedBodyReceived == 5_000)
        c.slot.finish(with: Response(status: .created), closeConnection: false)
        #expect(try c.peer.readResponse().status == 201)
        #expect(c.slot.connectionFD >= 0, "a body read to its end keeps the connection")
        #expect(c.slot.streamedBodyReceived == nil)
    }

    @Test func aStreamedBodyPastItsLimitEndsInTooLarge() throws {
        let c = try Self.connection()
        // Not declared: the limit is found while reading.
        try c.peer.send(
            FastCGIPeer.beginRequest(keepConnection: true) + FastCGIPeer.params([("REQUEST_METHOD", "POST"), ("DOCUMENT_URI", "/upload")])
                + FastCGIPeer.stdin([UInt8](repeating: 9, count: 3_000)))
        #expect(c.slot.accept())
        let stream = try #require(Self.read(c.slot, as: .streamed(maxBytes: 2_000)).bodyStream)
        var buffer = [UInt8](repeating: 0, count: 512)
        var received = 0
        #expect(throws: BodyStreamError.tooLarge(limit: 2_000)) {
            while true {
                let count = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
                if count == 0 { break }
                received += count
            }
        }
        #expect(received <= 2_000)
        // Answered before the body's end: the connection closes (nginx would wait for a drain otherwise).
        let (response, ended) = try c.finishClosing(with: Response(status: .contentTooLarge))
        #expect(response.status == 413 && ended)
        #expect(c.slot.connectionFD == -1)
    }

    @Test func aStreamedBodyCutShortByThePeerIsIncomplete() throws {
        let c = try Self.connection()
        try c.peer.send(
            FastCGIPeer.beginRequest(keepConnection: true)
                + FastCGIPeer.params([("REQUEST_METHOD", "POST"), ("DOCUMENT_URI", "/upload"), ("CONTENT_LENGTH", "1000")])
                + FastCGIPeer.stdin([UInt8](repeating: 9, count: 400), end: false))
        #expect(c.slot.accept())
        let stream = try #require(Self.read(c.slot, as: .streamed(maxBytes: 2_000)).bodyStream)
        c.peer.close()
        var buffer = [UInt8](repeating: 0, count: 1_000)
        var received = 0
        #expect(throws: BodyStreamError.incomplete) {
            while true {
                let count = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
                if count == 0 { break }
                received += count
            }
        }
        #expect(received == 400)
    }

    /// A declared streamed body over the route's limit is refused unread, and the connection is closed after the
    /// answer instead of drained up to the route's (large) limit.
    @Test func aDeclaredStreamedBodyOverItsLimitIsRefusedAndTheConnectionClosed() throws {
        let c = try Self.connection()
        try c.peer.send(
            FastCGIPeer.beginRequest(keepConnection: true)
                + FastCGIPeer.params([("REQUEST_METHOD", "POST"), ("DOCUMENT_URI", "/upload"), ("CONTENT_LENGTH", "5000")])
                + FastCGIPeer.stdin([UInt8](repeating: 9, count: 100), end: false))
        #expect(c.slot.accept())
        let request = Self.read(c.slot, as: .streamed(maxBytes: 4_000))
        #expect(request.rejection == .bodyTooLarge(limit: 4_000))
        #expect(request.bodyStream == nil)
        let (response, ended) = try c.finishClosing(with: Response(status: .contentTooLarge))
        #expect(response.status == 413 && ended)
        #expect(c.slot.connectionFD == -1)
    }

    /// With `maxStreamedBodies` 1, a second streamed body while the first is being read is refused; once the first
    /// request finishes, the next one is admitted.
    @Test func streamedBodiesPastTheWorkersBoundAreRefusedUntilOneFinishes() throws {
        let admission = StreamedBodyAdmission(limit: 1)
        let first = try Self.connection(admission: admission)
        let second = try Self.connection(admission: admission)
        let upload = FastCGIPeer.request(method: "POST", path: "/upload", body: [1, 2, 3])
        try first.peer.send(upload)
        try second.peer.send(upload)
        #expect(first.slot.accept() && second.slot.accept())
        let holding = Self.read(first.slot, as: .streamed(maxBytes: 100))
        #expect(holding.rejection == nil && holding.bodyStream != nil)
        let refused = Self.read(second.slot, as: .streamed(maxBytes: 100))
        #expect(refused.rejection == .streamedBodiesBusy(limit: 1))
        #expect(try second.finishClosing(with: Response(status: .serviceUnavailable)).0.status == 503)

        var buffer = [UInt8](repeating: 0, count: 16)
        while try buffer.withUnsafeMutableBytes({ try holding.bodyStream!.read(into: $0) }) > 0 {}
        first.slot.finish(with: Response(status: .created), closeConnection: false)
        #expect(try first.peer.readResponse().status == 201)

        try first.peer.send(FastCGIPeer.request(id: 2, method: "POST", path: "/upload", body: [4]))
        #expect(first.slot.accept())
        #expect(Self.read(first.slot, as: .streamed(maxBytes: 100)).rejection == nil, "the first request gave its place back")
    }

    @Test func aPeerThatLeavesInTheMiddleOfTheParamsEndsTheConnection() throws {
        let c = try Self.connection()
        let whole = FastCGIPeer.request(path: "/never", params: [("HTTP_X_A", "b")])
        try c.peer.send(Array(whole.prefix(30)))
        c.peer.close()
        #expect(!c.slot.accept())
        #expect(c.slot.connectionFD == -1)
    }
}

/// A request whose params libfcgi must not read (the remainder of CVE-2025-23016: a pair declaring name and value
/// lengths of 0x7ffffffe aborted the process in libfcgi's allocation) has its connection closed unread; the process
/// lives (it would not, and this suite with it, without the scan) and the slot serves the next connection.
@Suite("crafted params")
struct CraftedParamsTests {
    static let crafted =
        FastCGIPeer.beginRequest(keepConnection: true)
        + FastCGIPeer.record(.params, [0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFE] + [UInt8](repeating: 0x41, count: 64))

    /// Runs `slot.accept()` on another thread (a refused connection's close waits for the peer's end, as libfcgi's
    /// does), while `peer` checks that the connection ends; then closes the peer. Returns what accept said.
    static func acceptClosing(_ slot: FastCGISlot, peer: FastCGIPeer) -> (accepted: Bool, ended: Bool) {
        let done = DispatchSemaphore(value: 0)
        let accepted = Locked(false)
        Thread {
            let result = slot.accept()
            accepted.withLock { $0 = result }
            done.signal()
        }.start()
        let ended = peer.readsEnd()
        peer.close()
        done.wait()
        return (accepted.withLock { $0 }, ended)
    }

    @Test func aConnectionSlotClosesItUnread() throws {
        try #require(FastCGITestLibrary.isInitialized)
        let (fd, peer) = try FastCGIPeer.socketPair()
        let slot = FastCGISlot(connectionFD: fd, limits: FastCGISlotTests.limits)
        try peer.send(Self.crafted)
        let (accepted, ended) = Self.acceptClosing(slot, peer: peer)
        #expect(!accepted && ended)
        #expect(slot.lastRefusal == "a params pair declares a name of 2147483646 bytes, over the 9216-byte limit")
        #expect(slot.connectionFD < 0)
    }

    @Test func aListeningSlotRefusesItAndServesTheNextConnection() throws {
        try #require(FastCGITestLibrary.isInitialized)
        let path = NSTemporaryDirectory() + "/ftapi-crafted-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let listener = try FastCGIPeer.listen(onUnixSocket: path)
        defer {
            Glibc.close(listener)
            unlink(path)
        }
        let slot = FastCGISlot(listenFD: listener, limits: FastCGISlotTests.limits)
        let attacker = try FastCGIPeer.connect(toUnixSocket: path)
        try attacker.send(Self.crafted)
        let (accepted, ended) = Self.acceptClosing(slot, peer: attacker)
        #expect(!accepted && ended && slot.lastRefusal != nil)

        // The BEGIN_REQUEST alone first, the crafted PARAMS a moment later: the scan waits for them.
        let slow = try FastCGIPeer.connect(toUnixSocket: path)
        try slow.send(Array(Self.crafted.prefix(16)))
        Thread {
            Thread.sleep(forTimeInterval: 0.05)
            try? slow.send(Array(Self.crafted.dropFirst(16)))
        }.start()
        let (slowAccepted, slowEnded) = Self.acceptClosing(slot, peer: slow)
        #expect(!slowAccepted && slowEnded && slot.lastRefusal != nil)

        let nginx = try FastCGIPeer.connect(toUnixSocket: path)
        defer { nginx.close() }
        try nginx.send(FastCGIPeer.request(keepConnection: true, path: "/after"))
        #expect(slot.accept() && slot.lastRefusal == nil)
        let request = FastCGISlotTests.read(slot)
        #expect(request.path == "/after")
        slot.finish(with: Response(status: .ok, body: Array("ok".utf8)), closeConnection: false)
        let response = try nginx.readResponse()
        #expect(response.status == 200 && response.body == Array("ok".utf8))
    }
}
