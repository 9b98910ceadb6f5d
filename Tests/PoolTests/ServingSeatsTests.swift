import Essentials
import Testing

@testable import Pool

/// A worker's seats: how many threads serve at once, who parks, who is woken and when. A parked thread also
/// looks again every second by itself (so that a lost wake-up costs a second, not the seat): "promptly" below
/// means well within that second, which only a wake-up explains.
@Suite("Serving seats")
struct ServingSeatsTests {
    static let prompt = 0.5

    @Test func thereIsAlwaysOneSeatAtLeast() {
        #expect(ServingSeats(seats: 0).seats == 1)
        #expect(ServingSeats(seats: -3).seats == 1)
        #expect(ServingSeats(seats: 4).seats == 4)
    }

    @Test func threadsTakeTheSeatsAndTheNextParksUntilOneIsGivenUp() {
        let seats = ServingSeats(seats: 2)
        #expect(seats.take())
        #expect(seats.take())
        let third = Background { seats.take() }
        #expect(third.wait(seconds: 0.2) == nil, "no seat was free")
        let given = Clocks.monotonicSeconds()
        seats.give()
        #expect(third.wait(seconds: 5) == true)
        #expect(third.returnedAt! - given < Self.prompt, "the parked thread was woken for the free seat")
        #expect(!seats.isOverbooked)
    }

    @Test func closingEndsEveryParkedThreadAndEveryLaterTake() {
        let seats = ServingSeats(seats: 1)
        #expect(seats.take())
        let parked = [Background { seats.take() }, Background { seats.take() }]
        #expect(parked[0].wait(seconds: 0.1) == nil && parked[1].value == nil)
        let closed = Clocks.monotonicSeconds()
        seats.close()
        for thread in parked {
            #expect(thread.wait(seconds: 5) == false)
            #expect(thread.returnedAt! - closed < Self.prompt)
        }
        #expect(!seats.take())
    }

    /// A seat lent for a request that keeps its seat through a long wait goes to a parked thread; taking it back
    /// leaves one thread too many, which gives its seat up after its request (`isOverbooked`).
    @Test func aLentSeatGoesToAParkedThreadAndTakingItBackOverbooks() {
        let seats = ServingSeats(seats: 1)
        #expect(seats.take())
        let parked = Background { seats.take() }
        #expect(parked.wait(seconds: 0.1) == nil)
        let lent = Clocks.monotonicSeconds()
        seats.lend()
        #expect(parked.wait(seconds: 5) == true)
        #expect(parked.returnedAt! - lent < Self.prompt)
        #expect(!seats.isOverbooked)
        seats.reclaim()
        #expect(seats.isOverbooked, "two seated threads, one seat")
        seats.give()
        #expect(!seats.isOverbooked)
    }

    /// A thread back from a wait retakes its seat even when another took it meanwhile: it finishes its request first.
    @Test func aThreadBackFromAWaitRetakesItsSeatOverTheNumber() {
        let seats = ServingSeats(seats: 1)
        #expect(seats.take())
        seats.give()  // leaves for a wait
        let other = Background { seats.take() }
        #expect(other.wait(seconds: 5) == true, "the free seat was taken")
        seats.retake()
        #expect(seats.isOverbooked)
        seats.give()
        #expect(!seats.isOverbooked)
    }

    /// While a seated thread waits for work, a seat given up wakes nobody: the idle thread takes what comes next.
    /// Once that thread gets work, a parked thread is woken for the free seat.
    @Test func aFreeSeatWakesAParkedThreadOnlyOnceNoSeatedThreadIsIdle() {
        let seats = ServingSeats(seats: 2)
        #expect(seats.take())  // the idle one
        #expect(seats.take())  // the one that leaves
        let parked = Background { seats.take() }
        #expect(parked.wait(seconds: 0.1) == nil)
        seats.willWaitForWork()
        seats.give()
        #expect(parked.wait(seconds: 0.15) == nil, "woken while a seated thread was idle")
        let gotWork = Clocks.monotonicSeconds()
        seats.gotWork()
        #expect(parked.wait(seconds: 5) == true)
        #expect(parked.returnedAt! - gotWork < Self.prompt, "the parked thread was woken when the idle one got work")
    }

    /// Many threads taking and giving seats at once never seat more threads than seats.
    @Test func threadsNeverHoldMoreSeatsThanThereAre() {
        let seats = ServingSeats(seats: 3)
        let holding = Locked((now: 0, most: 0))
        let threads = (0..<8).map { _ in
            Background {
                for _ in 0..<200 {
                    guard seats.take() else { return false }
                    holding.withLock {
                        $0.now += 1
                        $0.most = max($0.most, $0.now)
                    }
                    holding.withLock { $0.now -= 1 }
                    seats.give()
                }
                return true
            }
        }
        for thread in threads { #expect(thread.wait(seconds: 30) == true) }
        #expect(holding.withLock { $0.most } <= 3)
        #expect(holding.withLock { $0.now } == 0)
    }
}
