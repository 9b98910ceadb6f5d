import Essentials
import FastCGITestSupport
import FastCGITransport
import Foundation
import HTTPCore
import Logging
import Testing

@testable import Pool

#if canImport(Glibc)
import Glibc
#endif

/// A worker's event dispatch without the worker process: threads that run `PoolWorker`'s own event loop (take a
/// seat, wait for the next event, accept a queued connection or serve a ready one, re-arm it), on a unix socket
/// that FastCGI peers written by hand connect to instead of nginx.
final class DispatchedWorker: @unchecked Sendable {
    // @unchecked: set up in init and read only afterwards; the dispatch and the seats synchronise themselves.
    let directory: String
    let listenFD: Int32
    let dispatch: ConnectionDispatch
    let seats: ServingSeats
    private let ended: [DispatchSemaphore]

    init(threads: Int, seats: Int, seat: ScoreboardSeat? = nil, handler: @escaping @Sendable (Request, _ thread: Int) -> Response) throws {
        try #require(FastCGITestLibrary.isInitialized)
        directory = try makeTemporaryDirectory()
        listenFD = try FastCGIPeer.listen(onUnixSocket: directory + "/pool.sock")
        let limits = TransportLimits(maxBodyBytes: 1 << 20, maxParamsBytes: 16 << 10)
        let dispatch = try ConnectionDispatch(listenFD: listenFD, limits: limits, admission: StreamedBodyAdmission(limit: 0), seat: seat)
        let seats = ServingSeats(seats: seats)
        self.dispatch = dispatch
        self.seats = seats
        ended = (0..<threads).map { _ in DispatchSemaphore(value: 0) }
        // The worker's own serving loop, with its part around each request (deadline, the supervisor's view); the
        // scoreboard's request counts stay out (no seat), the dispatch's connection counts in (`seat` above).
        let settings = WorkerSettings(threads: threads, limits: limits, drainTimeout: 5, listenerClosesOnStop: false, masterPID: getppid())
        let numbers = Locked<[pthread_t: Int]>([:])
        let application = WorkerApplication(responder: EchoResponder(numbers: numbers, handler: handler))
        for (thread, ended) in ended.enumerated() {
            Thread {
                numbers.withLock { $0[pthread_self()] = thread }
                PoolWorker.serveEvents(
                    AcceptThread(slot: nil, seats: seats), dispatch, seats, application: application, settings: settings, seat: nil,
                    stopping: StopFlag(), logger: Logger(label: "test"))
                ended.signal()
            }.start()
        }
    }

    /// One route for every request: answers with `handler`, told which test thread serves (its number by its pthread).
    private struct EchoResponder: Responder {
        let numbers: Locked<[pthread_t: Int]>
        let handler: @Sendable (Request, Int) -> Response

        func route(method: String, path: String) -> (route: Void, body: BodyHandling) { ((), .buffered) }
        func respond(to request: Request, route: Void) -> Response { handler(request, numbers.withLock { $0[pthread_self()] } ?? -1) }
    }

    func connect() throws -> FastCGIPeer { try FastCGIPeer.connect(toUnixSocket: directory + "/pool.sock") }

    var openConnections: Int { dispatch.openConnections.count }

    /// Stops every thread, as the worker's drain ends; whether they all ended within `seconds`.
    func stop(within seconds: Double = 5) -> Bool {
        dispatch.stopListening()
        dispatch.stop()
        seats.close()
        let deadline = DispatchTime.now() + seconds
        return ended.allSatisfy { $0.wait(timeout: deadline) == .success }
    }

    deinit {
        close(listenFD)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite("Connection dispatch over unix sockets")
struct ConnectionDispatchTests {
    /// Answers with the request's path and body, and the thread that served it.
    static func echo(_ request: Request, _ thread: Int) -> Response {
        Response(status: .ok, headers: [("X-Thread", String(thread)), ("X-Path", request.path)], body: request.body)
    }

    /// The scoreboard's slot of the worker under test, serving.
    static func seat(on board: Scoreboard) throws -> ScoreboardSeat {
        let slot = try #require(board.claimSlot(generation: 1))
        board.assign(slot: slot, pid: getpid())
        board.setState(slot: slot, .serving)
        return ScoreboardSeat(board: board, slot: slot)
    }

    @Test func seatedThreadsServeEveryRequestOfManyConnections() throws {
        let board = try makeScoreboard()
        let seat = try Self.seat(on: board)
        let worker = try DispatchedWorker(threads: 2, seats: 2, seat: seat, handler: Self.echo)
        #expect(board.load(slot: seat.slot, .takesConnections) == 1)
        let peers = try (0..<5).map { _ in try worker.connect() }
        var threads = Set<String>()
        for round in 1...4 {
            // Every connection has a request ready at once; then each answer is read.
            for (index, peer) in peers.enumerated() {
                try peer.send(
                    FastCGIPeer.request(id: UInt16(round), method: "POST", path: "/c\(index)/r\(round)", body: Array("\(index)-\(round)".utf8)))
            }
            for (index, peer) in peers.enumerated() {
                let response = try peer.readResponse()
                #expect(response.requestID == UInt16(round) && response.status == 200)
                #expect(response.header("X-Path") == "/c\(index)/r\(round)" && response.text == "\(index)-\(round)")
                threads.insert(response.header("X-Thread") ?? "?")
            }
        }
        #expect(threads.isSubset(of: ["0", "1"]))
        #expect(worker.openConnections == 5)
        #expect(board.load(slot: seat.slot, .connections) == 5, "the count other workers compare with")

        for peer in peers { peer.close() }
        #expect(eventually { worker.openConnections == 0 }, "closed connections are dropped")
        #expect(board.load(slot: seat.slot, .connections) == 0)
        #expect(worker.stop())
    }

    /// Two seats: two requests are served at once, on two threads, while the third thread stays parked and the third
    /// connection's request waits for a seated thread to be done.
    @Test func twoSeatedThreadsServeAtOnceAndTheThirdRequestWaitsForOne() throws {
        let release = DispatchSemaphore(value: 0)
        let serving = Locked((now: 0, most: 0))
        let worker = try DispatchedWorker(threads: 3, seats: 2) { request, thread in
            serving.withLock {
                $0.now += 1
                $0.most = max($0.most, $0.now)
            }
            _ = release.wait(timeout: .now() + 10)
            serving.withLock { $0.now -= 1 }
            return Self.echo(request, thread)
        }
        let peers = try (0..<3).map { _ in try worker.connect() }
        for (index, peer) in peers.enumerated() { try peer.send(FastCGIPeer.request(path: "/hold/\(index)")) }
        #expect(eventually { serving.withLock { $0.now } == 2 }, "two requests are served at once")
        Clocks.sleep(seconds: 0.3)
        #expect(serving.withLock { $0.now } == 2, "a third thread served without a seat")
        for _ in 0..<3 { release.signal() }
        let responses = try peers.map { try $0.readResponse() }
        #expect(responses.map(\.status) == [200, 200, 200])
        #expect(Set(responses.map { $0.header("X-Path") ?? "" }) == ["/hold/0", "/hold/1", "/hold/2"])
        #expect(Set(responses.compactMap { $0.header("X-Thread") }).count >= 2)
        #expect(serving.withLock { $0.most } == 2)
        for peer in peers { peer.close() }
        #expect(eventually { worker.openConnections == 0 })
        #expect(worker.stop())
    }

    @Test func aConnectionThePeerClosesIsDroppedAndTheOthersServeOn() throws {
        let board = try makeScoreboard()
        let seat = try Self.seat(on: board)
        let worker = try DispatchedWorker(threads: 2, seats: 2, seat: seat, handler: Self.echo)
        let (leaving, staying) = (try worker.connect(), try worker.connect())
        for peer in [leaving, staying] {
            try peer.send(FastCGIPeer.request(path: "/first"))
            #expect(try peer.readResponse().status == 200)
        }
        #expect(worker.openConnections == 2)
        leaving.close()
        #expect(eventually { worker.openConnections == 1 && board.load(slot: seat.slot, .connections) == 1 })

        // One that leaves in the middle of its request's head is dropped too.
        let halfway = try worker.connect()
        try halfway.send(Array(FastCGIPeer.request(path: "/never").prefix(20)))
        #expect(eventually { worker.openConnections == 2 })
        halfway.close()
        #expect(eventually { worker.openConnections == 1 })

        try staying.send(FastCGIPeer.request(id: 2, path: "/again"))
        let response = try staying.readResponse()
        #expect(response.requestID == 2 && response.header("X-Path") == "/again")
        staying.close()
        #expect(eventually { worker.openConnections == 0 && board.load(slot: seat.slot, .connections) == 0 })
        #expect(worker.stop())
    }

    /// A worker that holds more connections than another serving worker that takes them leaves a new connection in
    /// the queue for that one, for 10 ms of patience, then takes it itself (the other here never does).
    @Test func aWorkerHoldingMoreConnectionsLeavesANewOneToAnotherForItsPatience() throws {
        let board = try makeScoreboard()
        let seat = try Self.seat(on: board)
        let other = try Self.seat(on: board)
        board.setTakesConnections(slot: other.slot, true)
        board.setConnections(slot: other.slot, 0)
        let worker = try DispatchedWorker(threads: 2, seats: 2, seat: seat, handler: Self.echo)

        // Holding none, as many as the other: taken at once.
        let first = try worker.connect()
        try first.send(FastCGIPeer.request(path: "/first"))
        #expect(try first.readResponse().status == 200)
        #expect(board.load(slot: seat.slot, .connections) == 1)

        // Holding one, more than the other's none: left to it, then taken after the patience.
        let started = Clocks.monotonicSeconds()
        let second = try worker.connect()
        try second.send(FastCGIPeer.request(path: "/second"))
        let response = try second.readResponse()
        let waited = Clocks.monotonicSeconds() - started
        #expect(response.header("X-Path") == "/second")
        #expect(waited >= 0.009, "taken after \(waited * 1000) ms, not left to the other worker for 10 ms")
        #expect(board.load(slot: seat.slot, .connections) == 2)

        first.close()
        second.close()
        #expect(eventually { worker.openConnections == 0 })
        #expect(worker.stop())
    }

    /// The master shuts the listening socket down when the pool stops: the worker stops listening (and says so on
    /// the scoreboard) once the queue is empty, and serves the connections it holds on.
    @Test func aListenerShutDownEndsListeningButNotTheConnectionsHeld() throws {
        let board = try makeScoreboard()
        let seat = try Self.seat(on: board)
        let worker = try DispatchedWorker(threads: 2, seats: 2, seat: seat, handler: Self.echo)
        let held = try worker.connect()
        try held.send(FastCGIPeer.request(path: "/before"))
        #expect(try held.readResponse().status == 200)

        #expect(worker.dispatch.isListening)
        shutdown(worker.listenFD, Int32(SHUT_RD))
        #expect(eventually { !worker.dispatch.isListening })
        #expect(board.load(slot: seat.slot, .takesConnections) == 0, "other workers no longer leave connections to it")

        try held.send(FastCGIPeer.request(id: 2, path: "/after"))
        #expect(try held.readResponse().header("X-Path") == "/after")
        held.close()
        #expect(eventually { worker.openConnections == 0 })
        #expect(worker.stop())
    }

    @Test func stoppingEndsEveryThreadWaitingOrParked() throws {
        let worker = try DispatchedWorker(threads: 4, seats: 2, handler: Self.echo)
        let peer = try worker.connect()
        try peer.send(FastCGIPeer.request(path: "/one"))
        #expect(try peer.readResponse().status == 200)
        peer.close()
        #expect(eventually { worker.openConnections == 0 })
        #expect(worker.stop(within: 3), "two threads wait for events, two are parked: all end")
    }
}
