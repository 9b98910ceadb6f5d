// The one file that talks to libfcgi. Everything above it sees plain
// `Request` and `Response` values.
private import CFastCGI
public import Essentials
public import HTTPCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// POLLRDHUP, the peer's end of writing: a GNU extension the Glibc module leaves out (Linux's value).
private let pollReadHangUp: Int16 = 0x2000

/// Process-wide libfcgi set-up.
public enum FastCGILibrary {
    /// `FCGX_Init`: must run once before any accept. It installs libfcgi's own
    /// SIGTERM/SIGUSR1/SIGPIPE handlers, so the worker sets its signal
    /// dispositions after calling it.
    public static func initialize() -> Bool {
        FCGX_Init() == 0
    }

}

/// The accept threads of one worker that hold a streamed body now, against `TransportLimits.maxStreamedBodies`.
public final class StreamedBodyAdmission: Sendable {
    private let holders = Atomic<Int>(0)
    let limit: Int

    public init(limit: Int) { self.limit = limit }

    func enter() -> Bool {
        guard limit > 0 else { return true }
        if holders.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue <= limit { return true }
        holders.wrappingSubtract(1, ordering: .acquiringAndReleasing)
        return false
    }

    func leave() {
        if limit > 0 { holders.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
    }
}

/// How far the current streamed body has come, shared with the worker's supervisor, which cuts one too slow.
final class BodyProgress: Sendable {
    /// Bytes received so far; -1 when no streamed body is being read.
    let received = Atomic<Int>(-1)
    let cut = Atomic<Bool>(false)
}

/// One accept thread's FastCGI request slot: accepts requests from the
/// listening socket (or the kept connection), reads them into `Request`
/// values and writes `Response`s.
///
/// Used by exactly one thread, except `connectionFD`, which the worker's
/// supervisor reads while draining.
public final class FastCGISlot: @unchecked Sendable {
    // @unchecked: `request` is only touched by the owning accept thread; the
    // only cross-thread state is the atomic `connectionFDMirror`.
    private let request: UnsafeMutablePointer<FCGX_Request>
    private let limits: TransportLimits
    private var scratch = [UInt8](repeating: 0, count: 16 * 1024)
    private let connectionFDMirror = Atomic<Int32>(-1)
    /// The current request's streamed body, closed when the request finishes.
    private var bodyStream: FastCGIBodyStream?
    /// Set when a streamed route's body is refused unread: finish closes
    /// the connection instead of draining up to the route's large limit.
    private var refusedStreamedBody = false
    /// The current request's `CONTENT_LENGTH`, once its head is read.
    private var declaredLength: Int?
    private let admission: StreamedBodyAdmission?
    private var admitted = false
    private let progress = BodyProgress()
    /// The listening socket this slot accepts its connections from itself; nil for a slot of one connection.
    private let listenFD: Int32?
    /// The head of the connection's input, peeked before libfcgi reads it (`ParamsScan`).
    private var peeked = [UInt8](repeating: 0, count: 4096)
    /// Why the last `accept()` closed its connection unread, if it did: a request whose params libfcgi must not read.
    public private(set) var lastRefusal: String?

    /// A slot that accepts its connections from `listenFD` itself, blocking in accept() (one per accept thread).
    public convenience init(listenFD: Int32, limits: TransportLimits, admission: StreamedBodyAdmission? = nil) {
        // FAIL_ACCEPT_ON_INTR: a signal wakes a thread blocked in accept() so it can notice the drain.
        self.init(limits: limits, admission: admission, listenFD: listenFD) { FCGX_InitRequest($0, listenFD, CFastCGI_FailAcceptOnIntr) }
    }

    /// A slot for one connection accepted by the caller (one per connection): `accept()` reads the
    /// connection's next request, and returns false once the connection has ended (libfcgi then closed it).
    public convenience init(connectionFD: Int32, limits: TransportLimits, admission: StreamedBodyAdmission? = nil) {
        self.init(limits: limits, admission: admission) { request in
            FCGX_InitRequest(request, -1, 0)
            CFastCGI_RequestAdoptConnection(request, connectionFD)
        }
    }

    private init(
        limits: TransportLimits, admission: StreamedBodyAdmission?, listenFD: Int32? = nil, setUp: (UnsafeMutablePointer<FCGX_Request>) -> Void
    ) {
        self.limits = limits
        self.admission = admission
        self.listenFD = listenFD
        request = .allocate(capacity: 1)
        request.initialize(to: FCGX_Request())
        setUp(request)
        mirrorConnectionFD()
    }

    deinit {
        FCGX_Free(request, 1)
        request.deallocate()
    }

    /// The fd of the connection this slot holds open between requests, or -1.
    public var connectionFD: Int32 { connectionFDMirror.load(ordering: .acquiring) }

    /// Bytes of the streamed body being read now, nil when none is (read by the worker's supervisor).
    public var streamedBodyReceived: Int? {
        let received = progress.received.load(ordering: .relaxed)
        return received >= 0 ? received : nil
    }

    /// Cuts the streamed body being read now (too slow): its next read ends in `tooSlow`; the answer
    /// still goes out, since only the connection's reading side is shut.
    public func cutStreamedBody() {
        progress.cut.store(true, ordering: .releasing)
        let fd = connectionFD
        if fd >= 0 { shutdown(fd, Int32(SHUT_RD)) }
    }

    /// Blocks until a request's params have arrived. Returns false when
    /// accepting failed (interrupted, socket shut down, libfcgi shutting down),
    /// or, for a slot of one connection, when the connection ended.
    /// Then `serve(with:clock:routed:closeConnection:)` serves the request.
    ///
    /// Before libfcgi reads a request, its params are peeked and scanned (`ParamsScan`): a request whose params libfcgi
    /// must not read has its connection closed unread, and `accept()` returns false with `lastRefusal` saying why. So a
    /// slot of a listening socket accepts its connections itself, as the event dispatch does.
    public func accept() -> Bool {
        lastRefusal = nil
        var accepted = false
        if let listenFD, connectionFD < 0 {
            let fd = Glibc.accept(listenFD, nil, nil)
            // Interrupted (the drain's signal), the socket shut down, or out of descriptors: as libfcgi's failed accept.
            guard fd >= 0 else { return false }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            CFastCGI_RequestAdoptConnection(request, fd)
            mirrorConnectionFD()
            accepted = true
        }
        let fd = connectionFD
        if fd >= 0, let refusal = refusalOfParams(on: fd, waitingThroughSignals: accepted) {
            lastRefusal = refusal
            closeConnection()
            return false
        }
        let rc = FCGX_Accept_r(request)
        mirrorConnectionFD()
        return rc >= 0
    }

    /// Why the params at the head of `fd`'s input must not reach libfcgi, or nil when they may (also when the
    /// connection ended, or a signal interrupted the wait on a kept connection: libfcgi then reads the end, or the
    /// drain, as before). A connection just accepted waits through signals: the web server connected to send a
    /// request, which a drain's signal must not cut. Waits for the params to arrive whole (nginx sends them in one
    /// write), for at most 10 seconds.
    private func refusalOfParams(on fd: Int32, waitingThroughSignals: Bool) -> String? {
        // Read only once a wait begins: nginx's params are all there at the first peek, and the clock is not.
        var deadline: Double?
        func pastDeadline() -> Bool {
            let now = Clocks.monotonicSeconds()
            if let deadline { return now >= deadline }
            deadline = now + 10
            return false
        }
        var wanted = 0
        while true {
            if peeked.count < wanted { peeked = [UInt8](repeating: 0, count: max(wanted, 2 * peeked.count)) }
            // Blocks until some input is there; then returns what is, without taking it.
            let count = peeked.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK)) }
            if count < 0 && errno == EINTR && waitingThroughSignals && !pastDeadline() { continue }
            guard count > 0 else { return nil }
            let scan = peeked.withUnsafeBytes {
                ParamsScan.scan(UnsafeRawBufferPointer(rebasing: $0[..<count]), maxParamsBytes: limits.maxParamsBytes)
            }
            switch scan {
            case .safe:
                return nil
            case .refused(let reason):
                return reason
            case .needs(let bytes):
                // The peer is done sending: the rest will never come, and libfcgi reads the end as before.
                var state = pollfd(fd: fd, events: pollReadHangUp, revents: 0)
                if poll(&state, 1, 0) > 0, state.revents & (pollReadHangUp | Int16(POLLHUP | POLLERR)) != 0 { return nil }
                guard !pastDeadline() else { return "the params did not arrive whole within 10 s" }
                // More than the buffer held: peek a larger one at once; else the rest is on its way.
                if bytes > peeked.count { wanted = bytes } else { Clocks.sleep(seconds: 0.0005) }
            }
        }
    }

    /// Serves the request `accept()` took, start to end: reads its head, matches its route (and tells
    /// `routed`), reads its body as the route declares, has `responder` answer it, and writes the answer,
    /// closing the connection after it when `closeConnection()` says so by then. The request carries `clock`
    /// (`Request.clock`), on which the body's reads announce their waits.
    public func serve<R: Responder>(
        with responder: R, clock: RequestClock?, routed: (R.Route) -> Void, closeConnection: () -> Bool
    ) -> (method: String, status: Int) {
        var request = readHead()
        request.clock = clock
        let (route, body) = responder.route(method: request.method, path: request.path)
        routed(route)
        readBody(of: &request, as: body)
        let response = responder.respond(to: request, route: route)
        finish(with: response, closeConnection: closeConnection())
        return (request.method, response.status.code)
    }

    /// Writes the response, drains unread input so the kept connection stays
    /// in step, and finishes the request. With `closeConnection` the
    /// connection is closed instead of kept for the next request.
    func finish(with response: Response, closeConnection: Bool) {
        var closeConnection = closeConnection
        // Into libfcgi's output buffer (8 KiB), piece by piece: a small response still leaves as one record.
        response.writeHead(put)
        response.body.withUnsafeBytes(put)
        var drain = !refusedStreamedBody
        if refusedStreamedBody {
            closeConnection = true
            refusedStreamedBody = false
        }
        if admitted {
            admission?.leave()
            admitted = false
        }
        progress.received.store(-1, ordering: .relaxed)
        progress.cut.store(false, ordering: .relaxed)
        if let stream = bodyStream {
            // A handler that answered before a streamed body ended (refused it,
            // or stopped at the limit): nginx, which stops sending once the
            // answer arrives, would wait for the request's end while a drain
            // waited for the body. So: no drain; libfcgi's close sends the end
            // of the request, shuts down writing and lingers so the answer is
            // not lost to a reset.
            if !stream.reachedEnd {
                drain = false
                closeConnection = true
            }
            stream.close()
            bodyStream = nil
        }
        if drain { drainInput() }
        if let input = request.pointee.in, FCGX_GetError(input) != 0 { closeConnection = true }
        endRequest(closingConnection: closeConnection)
    }

    /// Closes the slot's connection between requests.
    public func closeConnection() { endRequest(closingConnection: true) }

    private func endRequest(closingConnection: Bool) {
        if closingConnection {
            // nginx keeps a connection it asked to keep as soon as it reads the request's end, and may send its next
            // request on it before this close reaches it: that request fails (502), and nginx retries no POST. Data
            // after the request's end makes nginx drop the connection itself.
            if CFastCGI_RequestKeepsConnection(request) != 0 { _ = CFastCGI_EndRequestRefusingKeepAlive(request) }
            CFastCGI_RequestDropConnection(request)
        }
        FCGX_Finish_r(request)
        mirrorConnectionFD()
    }

    /// Publishes libfcgi's connection fd for other threads (`connectionFD`).
    private func mirrorConnectionFD() {
        connectionFDMirror.store(CFastCGI_RequestConnectionFD(request), ordering: .releasing)
    }

    private func put(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = FCGX_PutStr(base.assumingMemoryBound(to: CChar.self), Int32(bytes.count), request.pointee.out)
    }

    private func drainInput() {
        guard let input = request.pointee.in else { return }
        scratch.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { base in
                while FCGX_GetStr(base, Int32(buffer.count), input) > 0 {}
            }
        }
    }

    /// Reads up to `maxBytes` of the body; returns nil if there is more.
    private func readBody(maxBytes: Int, expected: Int?) -> [UInt8]? {
        guard let input = request.pointee.in else { return [] }
        var body: [UInt8] = []
        if let expected { body.reserveCapacity(min(expected, maxBytes)) }
        var tooLarge = false
        scratch.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { base in
                while true {
                    let n = Int(FCGX_GetStr(base, Int32(buffer.count), input))
                    if n <= 0 { break }
                    if body.count + n > maxBytes {
                        tooLarge = true
                        break
                    }
                    body.append(contentsOf: UnsafeRawBufferPointer(start: base, count: n))
                }
            }
        }
        return tooLarge ? nil : body
    }

    /// The accepted request's head as a plain value: method, path, query and
    /// headers, with no body yet (`readBody` reads it as its route declares).
    /// A head the transport refuses carries its `rejection`.
    func readHead() -> Request {
        var decoder = RequestHeadDecoder(maxParamsBytes: limits.maxParamsBytes)
        if var cursor = request.pointee.envp {
            while let entry = cursor.pointee {
                let length = strlen(entry)
                entry.withMemoryRebound(to: UInt8.self, capacity: length) { decoder.take(UnsafeBufferPointer(start: $0, count: length)) }
                cursor += 1
            }
        }
        let (request, declaredLength) = decoder.finish()
        self.declaredLength = declaredLength
        return request
    }

    /// Reads the body of `request` (whose head `readHead` returned) whole, up to
    /// the transport's limit, or leaves it to stream, as `handling` says.
    func readBody(of request: inout Request, as handling: BodyHandling) {
        guard request.rejection == nil else { return }
        if case .streamed(let maxBytes) = handling {
            if let declaredLength, declaredLength > maxBytes {
                request.rejection = .bodyTooLarge(limit: maxBytes)
                refusedStreamedBody = true
                return
            }
            if let admission, declaredLength != 0 {
                guard admission.enter() else {
                    request.rejection = .streamedBodiesBusy(limit: admission.limit)
                    refusedStreamedBody = true
                    return
                }
                admitted = true
            }
            if let input = self.request.pointee.in {
                progress.received.store(0, ordering: .relaxed)
                let stream = FastCGIBodyStream(
                    input: input, declaredLength: declaredLength, maxBytes: maxBytes, progress: progress, limits: limits, clock: request.clock)
                bodyStream = stream
                request.bodyStream = stream
            }
            return
        }
        if let declaredLength, declaredLength > limits.maxBodyBytes {
            request.rejection = .bodyTooLarge(limit: limits.maxBodyBytes)
            return
        }
        if declaredLength == 0 { return }
        guard let body = readBody(maxBytes: limits.maxBodyBytes, expected: declaredLength) else {
            request.rejection = .bodyTooLarge(limit: limits.maxBodyBytes)
            return
        }
        if let declaredLength, body.count < declaredLength {
            request.rejection = .bodyIncomplete
            return
        }
        request.body = body
    }

}

/// A request body read from libfcgi's input stream as it arrives. Valid
/// until its request finishes; reading after that ends the body.
private final class FastCGIBodyStream: RequestBodyStream, @unchecked Sendable {
    // @unchecked: used only by the accept thread that serves the request; the
    // stream pointer is dropped (`close`) before libfcgi frees it.
    private var input: UnsafeMutablePointer<FCGX_Stream>?
    private let declaredLength: Int?
    private let maxBytes: Int
    private var received = 0
    /// Whether reading is over: at the end, or failed.
    private var ended = false
    /// Whether the body was read to its clean end.
    private(set) var reachedEnd = false
    private let progress: BodyProgress
    private let limits: TransportLimits
    /// The request's clock, on which each read announces its wait.
    private let clock: RequestClock?

    init(
        input: UnsafeMutablePointer<FCGX_Stream>, declaredLength: Int?, maxBytes: Int, progress: BodyProgress, limits: TransportLimits,
        clock: RequestClock?
    ) {
        self.input = input
        self.declaredLength = declaredLength
        self.maxBytes = maxBytes
        self.progress = progress
        self.limits = limits
        self.clock = clock
    }

    func close() { input = nil }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(BodyStreamError) -> Int {
        guard let input, !ended, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        // One byte past the limit is enough to know the body is too large.
        let wanted = Int32(min(buffer.count, maxBytes - received + 1))
        let read = { Int(FCGX_GetStr(base.assumingMemoryBound(to: CChar.self), wanted, input)) }
        let count = clock?.waiting(read) ?? read()
        if count > 0 {
            received += count
            progress.received.store(received, ordering: .relaxed)
            if received > maxBytes {
                ended = true
                throw .tooLarge(limit: maxBytes)
            }
            return count
        }
        ended = true
        if progress.cut.load(ordering: .acquiring) {
            throw .tooSlow(minimumBytesPerSecond: limits.minimumBodyBytesPerSecond, windowSeconds: limits.bodyRateWindowSeconds)
        }
        // libfcgi sets the stream's error when the connection ends without
        // the empty record that closes the body: the client or nginx gave up.
        if FCGX_GetError(input) != 0 { throw .incomplete }
        if let declaredLength, received < declaredLength { throw .incomplete }
        reachedEnd = true
        return 0
    }
}
