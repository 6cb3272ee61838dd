import LedgerTestSupport
import Testing

@testable import LedgerEngine

@Suite struct StateMachineTests {
    var machine = LedgerStateMachine()
    var clock: UInt64 = 1_000_000_000

    /// Applies `events` as the engine does: holds due by now expire first, as
    /// an engine-generated batch.
    mutating func apply(_ events: [Event]) -> [ResultCode] {
        let due = machine.takeHoldsDue(atOrBefore: clock, limit: Limits.expiriesPerBatchMax)
        if !due.isEmpty {
            let expired = machine.apply(EventBatch(due.map { .expireHold($0) }), timestamp: clock)
            #expect(expired.allSatisfy { $0 == .ok })
            clock += UInt64(due.count)
        }
        let results = machine.apply(EventBatch(events), timestamp: clock)
        clock += 1_000
        return results
    }

    mutating func opened() -> StateMachineTests {
        var copy = self
        // Account 1: the gateway's settlement account (may go negative: no flag).
        // Accounts 2, 3: user wallets that must not be overdrawn.
        // Account 4: platform commission income.
        _ = copy.apply([usd(1), usd(2, flags: .debitsMustNotExceedCredits), usd(3, flags: .debitsMustNotExceedCredits), usd(4)])
        return copy
    }

    @Test mutating func walletTopUpMovesMoneyAndBalancesPerLedger() {
        var s = opened()
        #expect(s.apply([transfer(100, from: 1, to: 2, 2_500)]) == [.ok])
        #expect(s.machine.account(id: 2)!.creditsPosted == 2_500)
        #expect(s.machine.account(id: 1)!.debitsPosted == 2_500)
        #expect(s.machine.invariantViolations().isEmpty)
    }

    /// Found by the `events` fuzz target: a posting to account 0 (or a
    /// lookup of id 0) indexed `accounts[-1]` and trapped, so any API key
    /// could stop the server.
    @Test mutating func idZeroIsNotFoundAnywhere() {
        var s = opened()
        #expect(s.apply([transfer(100, from: 0, to: 2, 10)]) == [.accountNotFound])
        #expect(s.apply([transfer(101, from: 1, to: 0, 10)]) == [.accountNotFound])
        #expect(s.machine.account(id: 0) == nil && s.machine.entry(id: 0) == nil)
        #expect(s.machine.invariantViolations().isEmpty)
    }

    @Test mutating func overdraftIsRejectedAndChangesNothing() {
        var s = opened()
        _ = s.apply([transfer(100, from: 1, to: 2, 100)])
        let before = s.machine.accounts
        #expect(s.apply([transfer(101, from: 2, to: 3, 101)]) == [.exceedsCredits])
        #expect(s.machine.accounts == before)
        #expect(s.machine.entry(id: 101) == nil)
        // The id was not claimed: a corrected retry under the same id succeeds.
        #expect(s.apply([transfer(101, from: 2, to: 3, 100)]) == [.ok])
    }

    @Test mutating func holdReservesFundsAgainstASecondWithdrawal() {
        var s = opened()
        _ = s.apply([transfer(100, from: 1, to: 2, 1_000)])
        #expect(s.apply([transfer(200, from: 2, to: 1, 700, kind: .pending)]) == [.ok])
        #expect(s.apply([transfer(201, from: 2, to: 1, 400)]) == [.exceedsCredits])
        #expect(s.apply([transfer(202, from: 2, to: 1, 300)]) == [.ok])
        #expect(s.machine.account(id: 2)!.debitsPending == 700)
    }

    @Test mutating func postPendingSettlesOnceAndReleasesTheRest() {
        var s = opened()
        _ = s.apply([transfer(100, from: 1, to: 2, 1_000), transfer(200, from: 2, to: 1, 700, kind: .pending)])
        let partial = Event.createEntry(NewEntry(id: 300, kind: .postPending, postings: [.debit(2, 500), .credit(1, 500)], pendingID: 200))
        #expect(s.apply([partial]) == [.ok])
        let wallet = s.machine.account(id: 2)!
        #expect(wallet.debitsPending == 0)
        #expect(wallet.debitsPosted == 500)
        let again = Event.createEntry(NewEntry(id: 301, kind: .postPending, postings: [], pendingID: 200))
        #expect(s.apply([again]) == [.pendingAlreadyPosted])
        let void = Event.createEntry(NewEntry(id: 302, kind: .voidPending, postings: [], pendingID: 200))
        #expect(s.apply([void]) == [.pendingAlreadyPosted])
        #expect(s.machine.invariantViolations().isEmpty)
    }

    @Test mutating func postPendingRejectsMoreThanHeldAndOtherAccounts() {
        var s = opened()
        _ = s.apply([transfer(100, from: 1, to: 2, 1_000), transfer(200, from: 2, to: 1, 700, kind: .pending)])
        let tooMuch = Event.createEntry(NewEntry(id: 300, kind: .postPending, postings: [.debit(2, 800), .credit(1, 800)], pendingID: 200))
        let otherAccount = Event.createEntry(NewEntry(id: 301, kind: .postPending, postings: [.debit(3, 100), .credit(1, 100)], pendingID: 200))
        let unbalanced = Event.createEntry(NewEntry(id: 302, kind: .postPending, postings: [.debit(2, 100), .credit(1, 90)], pendingID: 200))
        let missing = Event.createEntry(NewEntry(id: 303, kind: .voidPending, postings: [], pendingID: 999))
        #expect(s.apply([tooMuch, otherAccount, unbalanced, missing]) == [.amountExceedsPending, .postingsDifferFromPending, .unbalanced, .pendingNotFound])
        let void = Event.createEntry(NewEntry(id: 304, kind: .voidPending, postings: [], pendingID: 200))
        #expect(s.apply([void]) == [.ok])
        #expect(s.machine.account(id: 2)!.debitsPending == 0)
        #expect(s.machine.account(id: 2)!.debitsPosted == 0)
    }

    @Test mutating func holdExpiresAtItsTimeoutAndCannotBePostedAfter() {
        var s = opened()
        _ = s.apply([transfer(100, from: 1, to: 2, 1_000), transfer(200, from: 2, to: 1, 700, kind: .pending, timeout: 5)])
        #expect(s.machine.account(id: 2)!.debitsPending == 700)
        s.clock += 5 * 1_000_000_000
        let post = Event.createEntry(NewEntry(id: 300, kind: .postPending, postings: [], pendingID: 200))
        #expect(s.apply([post]) == [.pendingExpired])
        #expect(s.machine.account(id: 2)!.debitsPending == 0)
        #expect(s.machine.entry(id: 200)!.holdState == .expired)
        #expect(s.machine.invariantViolations().isEmpty)
    }

    @Test mutating func expiryIsAnEventThatOnlyADueOpenHoldAccepts() throws {
        var s = opened()
        _ = s.apply([transfer(100, from: 1, to: 2, 1_000), transfer(200, from: 2, to: 1, 700, kind: .pending, timeout: 5)])
        // Not due yet, no such hold, not a timed hold.
        #expect(s.apply([.expireHold(200), .expireHold(999)]) == [.holdNotDue, .pendingNotFound])
        _ = s.apply([transfer(201, from: 2, to: 1, 100, kind: .pending)])
        s.clock += 10 * 1_000_000_000
        #expect(s.machine.takeHoldsDue(atOrBefore: s.clock, limit: 10) == [200])
        #expect(
            s.machine.apply(EventBatch([.expireHold(200), .expireHold(201), .expireHold(200)]), timestamp: s.clock) == [.ok, .holdNotDue, .pendingExpired])
        #expect(s.machine.account(id: 2)!.debitsPending == 100)
        // Clients cannot submit expiries.
        let bytes = EventBatch([.expireHold(201)]).bytes
        #expect(throws: LedgerError.self) { _ = try EventBatch(validating: bytes, eventCount: 1) }
    }

    @Test mutating func repeatedIdIsIdempotentAndDifferentContentIsNamed() {
        var s = opened()
        #expect(s.apply([transfer(100, from: 1, to: 2, 10)]) == [.ok])
        #expect(s.apply([transfer(100, from: 1, to: 2, 10)]) == [.exists])
        #expect(s.apply([transfer(100, from: 1, to: 2, 11)]) == [.existsWithDifferentFields])
        #expect(s.machine.account(id: 2)!.creditsPosted == 10)
        #expect(s.apply([usd(2, flags: .debitsMustNotExceedCredits)]) == [.exists])
        #expect(s.apply([usd(2)]) == [.existsWithDifferentFields])
    }

    @Test mutating func crossCurrencyAndUnbalancedEntriesAreRejected() {
        var s = opened()
        _ = s.apply([.createAccount(NewAccount(id: 9, ledger: 978))])
        #expect(s.apply([transfer(100, from: 1, to: 9, 10)]) == [.ledgerMismatch])
        let unbalanced = Event.createEntry(NewEntry(id: 101, postings: [.debit(1, 10), .credit(2, 9)]))
        #expect(s.apply([unbalanced]) == [.unbalanced])
        // A marketplace sale: the buyer pays 100, the merchant gets 97 and the platform 3.
        let split = Event.createEntry(NewEntry(id: 102, postings: [.debit(1, 100), .credit(3, 97), .credit(4, 3)]))
        #expect(s.apply([split]) == [.ok])
        #expect(s.machine.account(id: 4)!.creditsPosted == 3)
    }

    @Test mutating func overflowIsARejectionNotAWrap() {
        var s = opened()
        #expect(s.apply([transfer(100, from: 1, to: 4, UInt128.max)]) == [.ok])
        #expect(s.apply([transfer(101, from: 1, to: 4, 1)]) == [.overflow])
        #expect(s.machine.account(id: 4)!.creditsPosted == UInt128.max)
        let sumOverflow = Event.createEntry(NewEntry(id: 102, postings: [.debit(2, UInt128.max), .debit(3, 1), .credit(4, 1)]))
        #expect(s.apply([sumOverflow]) == [.overflow])
    }

    @Test mutating func fieldChecksNameTheProblem() {
        var s = opened()
        let cases: [(Event, ResultCode)] = [
            (transfer(0, from: 1, to: 2, 1), .idMustNotBeZero),
            (transfer(100, from: 1, to: 2, 0), .amountMustNotBeZero),
            (transfer(101, from: 1, to: 77, 1), .accountNotFound),
            (.createEntry(NewEntry(id: 102, postings: [.debit(1, 1)])), .tooFewPostings),
            (.createEntry(NewEntry(id: 103, postings: Array(repeating: .debit(1, 1), count: 129))), .tooManyPostings),
            (.createEntry(NewEntry(id: 104, postings: [.debit(1, 1), .credit(2, 1)], metadata: Array(repeating: 1, count: 1025))), .metadataTooLong),
            (.createEntry(NewEntry(id: 105, postings: [.debit(1, 1), .credit(2, 1)], pendingID: 5)), .pendingIdMustBeZero),
            (.createEntry(NewEntry(id: 106, kind: .voidPending, postings: [])), .pendingIdRequired),
            (transfer(107, from: 1, to: 2, 1, timeout: 3), .timeoutRequiresPending),
            (.createEntry(NewEntry(id: 108, kind: EntryKind(rawValue: 9), postings: [])), .invalidEntryKind),
            (.createEntry(NewEntry(id: 109, postings: [.debit(1, 1), Posting(accountID: 2, amount: 1, side: Side(rawValue: 7))])), .invalidSide),
            (.createAccount(NewAccount(id: 0, ledger: 1)), .idMustNotBeZero),
            (.createAccount(NewAccount(id: 50, ledger: 0)), .ledgerMustNotBeZero),
            (.createAccount(NewAccount(id: 51, ledger: 1, flags: .closed)), .reservedFlag),
            (.createAccount(NewAccount(id: 52, ledger: 1, flags: [.debitsMustNotExceedCredits, .creditsMustNotExceedDebits])), .flagsAreMutuallyExclusive),
        ]
        for (event, expected) in cases {
            #expect(s.apply([event]) == [expected], "\(event)")
        }
    }

    @Test mutating func closedAccountAcceptsNothingNewAndNeedsNoOpenHolds() {
        var s = opened()
        _ = s.apply([transfer(100, from: 1, to: 2, 100), transfer(101, from: 2, to: 1, 10, kind: .pending)])
        #expect(s.apply([.closeAccount(2)]) == [.accountHasPendingBalance])
        _ = s.apply([.createEntry(NewEntry(id: 102, kind: .voidPending, postings: [], pendingID: 101))])
        #expect(s.apply([.closeAccount(2)]) == [.ok])
        #expect(s.apply([.closeAccount(2)]) == [.accountAlreadyClosed])
        #expect(s.apply([transfer(103, from: 1, to: 2, 1)]) == [.accountClosed])
        #expect(s.apply([.closeAccount(42)]) == [.accountNotFound])
    }

    @Test mutating func eventsInOneBatchSeeEarlierEventsAndGetConsecutiveTimestamps() {
        var s = StateMachineTests()
        let base = s.clock
        #expect(s.apply([usd(1), usd(2), transfer(100, from: 1, to: 2, 5)]) == [.ok, .ok, .ok])
        #expect(s.machine.account(id: 2)!.timestamp == base + 1)
        #expect(s.machine.entry(id: 100)!.timestamp == base + 2)
        #expect(s.machine.lastTimestamp == base + 2)
    }
}
