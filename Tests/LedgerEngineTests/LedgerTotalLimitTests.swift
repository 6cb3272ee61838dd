import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The per-ledger total limit (`ledgerTotalOverflow`): every sum over a
/// ledger's accounts stays within 128 bits, at each boundary.
@Suite struct LedgerTotalLimitTests {
    static let max = UInt128.max

    static func opened() -> StateMachineTests {
        var s = StateMachineTests()
        _ = s.apply((1...8).map { usd(UInt128($0)) })
        return s
    }

    @Test func postedTotalStopsAtTheLimitExactly() {
        var s = Self.opened()
        #expect(s.apply([transfer(10, from: 1, to: 2, Self.max - 1)]) == [.ok])
        #expect(s.apply([transfer(11, from: 3, to: 4, 1)]) == [.ok])  // total is now exactly 2^128 - 1
        #expect(s.apply([transfer(12, from: 5, to: 6, 1)]) == [.ledgerTotalOverflow])
        #expect(s.machine.account(id: 5)!.debitsPosted == 0 && s.machine.account(id: 6)!.creditsPosted == 0)
        #expect(s.machine.entry(id: 12) == nil)
        #expect(s.machine.invariantViolations().isEmpty)
    }

    @Test func theDrillsTwoEntriesAreRefusedAtTheSecond() {
        var s = Self.opened()
        #expect(s.apply([transfer(20, from: 1, to: 2, Self.max)]) == [.ok])
        #expect(s.apply([transfer(21, from: 3, to: 4, 1)]) == [.ledgerTotalOverflow])
        #expect(s.machine.invariantViolations().isEmpty)
    }

    @Test func pendingTotalIsBoundedAndReleasedByVoidExpiryAndPost() {
        var s = Self.opened()
        #expect(s.apply([transfer(30, from: 1, to: 2, Self.max, kind: .pending)]) == [.ok])
        #expect(s.apply([transfer(31, from: 3, to: 4, 1, kind: .pending)]) == [.ledgerTotalOverflow])
        #expect(s.apply([.createEntry(NewEntry(id: 32, kind: .voidPending, postings: [], pendingID: 30))]) == [.ok])
        #expect(s.apply([transfer(33, from: 3, to: 4, 1, kind: .pending)]) == [.ok])
        // A hold that expires releases its share of the total.
        #expect(s.apply([transfer(34, from: 5, to: 6, Self.max - 1, kind: .pending, timeout: 1)]) == [.ok])
        #expect(s.apply([transfer(35, from: 7, to: 8, 1, kind: .pending)]) == [.ledgerTotalOverflow])
        s.clock += 2_000_000_000
        #expect(s.apply([transfer(36, from: 7, to: 8, 1, kind: .pending)]) == [.ok])
        #expect(s.machine.invariantViolations().isEmpty)
    }

    @Test func postingAHoldPastThePostedLimitIsRefusedAndTheHoldStaysOpen() {
        var s = Self.opened()
        #expect(s.apply([transfer(40, from: 1, to: 2, Self.max)]) == [.ok])
        #expect(s.apply([transfer(41, from: 3, to: 4, 1, kind: .pending)]) == [.ok])  // pending is its own total
        #expect(s.apply([.createEntry(NewEntry(id: 42, kind: .postPending, postings: [], pendingID: 41))]) == [.ledgerTotalOverflow])
        #expect(s.machine.account(id: 3)!.debitsPending == 1)
        #expect(s.apply([.createEntry(NewEntry(id: 43, kind: .voidPending, postings: [], pendingID: 41))]) == [.ok])
        #expect(s.machine.invariantViolations().isEmpty)
    }

    @Test func ledgersAreBoundedSeparately() {
        var s = Self.opened()
        _ = s.apply([.createAccount(NewAccount(id: 90, ledger: 978, code: 1, flags: [])), .createAccount(NewAccount(id: 91, ledger: 978, code: 1, flags: []))])
        #expect(s.apply([transfer(50, from: 1, to: 2, Self.max)]) == [.ok])
        #expect(s.apply([transfer(51, from: 90, to: 91, Self.max)]) == [.ok])
        #expect(s.machine.invariantViolations().isEmpty)
    }
}
