import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Generates random batches that exercise every result code path.
struct RandomWorkload {
    var rng: SeededRandom
    var nextEntryID: UInt128 = 1_000
    var entryHistory: [Event] = []
    var pendingIDs: [UInt128] = []
    let accountIDs: [UInt128] = Array(1...12)

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    mutating func openingBatch() -> [Event] {
        var events: [Event] = []
        for id in accountIDs {
            let ledger: UInt32 = id <= 8 ? 840 : 978
            let flags: AccountFlags = id % 3 == 0 ? .debitsMustNotExceedCredits : (id % 5 == 0 ? .creditsMustNotExceedDebits : [])
            events.append(.createAccount(NewAccount(id: id, ledger: ledger, code: UInt16(id % 4), flags: flags)))
        }
        return events
    }

    mutating func amount() -> UInt128 {
        switch Int.random(in: 0..<100, using: &rng) {
        case 0: return 0
        case 1: return UInt128.max - UInt128(Int.random(in: 0..<3, using: &rng))
        default: return UInt128(Int.random(in: 1...500, using: &rng))
        }
    }

    mutating func account() -> UInt128 {
        Int.random(in: 0..<40, using: &rng) == 0 ? 99 : accountIDs.randomElement(using: &rng)!
    }

    mutating func batch() -> [Event] {
        (0..<Int.random(in: 1...20, using: &rng)).map { _ in event() }
    }

    mutating func event() -> Event {
        let roll = Int.random(in: 0..<100, using: &rng)
        if roll < 8, let previous = entryHistory.randomElement(using: &rng) {
            // A client retry, sometimes with changed content.
            if case .createEntry(var entry) = previous, Bool.random(using: &rng) {
                entry.code &+= 1
                return .createEntry(entry)
            }
            return previous
        }
        if roll < 10 { return .closeAccount(account()) }
        nextEntryID += 1
        let id = nextEntryID
        let event: Event
        if roll < 30, let pendingID = pendingIDs.randomElement(using: &rng) {
            let void = Bool.random(using: &rng)
            event = .createEntry(NewEntry(id: id, kind: void ? .voidPending : .postPending, postings: [], pendingID: pendingID))
        } else if roll < 35, let pendingID = pendingIDs.randomElement(using: &rng) {
            // Partial post, same shape as a two-posting hold.
            let a = amount()
            event = .createEntry(NewEntry(id: id, kind: .postPending, postings: [.debit(account(), a), .credit(account(), a)], pendingID: pendingID))
        } else {
            let pending = roll < 55
            let legs = Int.random(in: 2...4, using: &rng)
            var postings: [Posting] = []
            var total: UInt128 = 0
            for _ in 0..<(legs - 1) {
                let a = UInt128(Int.random(in: 1...300, using: &rng))
                postings.append(.credit(account(), a))
                total += a
            }
            if Int.random(in: 0..<20, using: &rng) == 0 { total += 1 }  // unbalanced
            if Int.random(in: 0..<30, using: &rng) == 0 { total = amount() }
            postings.insert(.debit(account(), total == 0 ? 1 : total), at: 0)
            postings.shuffle(using: &rng)
            let timeout: UInt32 = pending && Bool.random(using: &rng) ? UInt32.random(in: 1...3, using: &rng) : 0
            event = .createEntry(NewEntry(id: id, kind: pending ? .pending : .posted, postings: postings, timeoutSeconds: timeout, code: 7))
            if pending { pendingIDs.append(id) }
        }
        entryHistory.append(event)
        return event
    }
}

/// An independent model of balances: it takes the machine's results as given
/// and re-derives every balance from the postings of accepted entries.
struct BalanceModel {
    struct Balances: Equatable { var dp: UInt128 = 0, cp: UInt128 = 0, dq: UInt128 = 0, cq: UInt128 = 0 }
    struct Hold {
        var postings: [Posting]
        var expiresAt: UInt64
    }
    var balances: [UInt128: Balances] = [:]
    var holds: [UInt128: Hold] = [:]

    mutating func release(_ postings: [Posting]) {
        for p in postings {
            if p.side == .debit { balances[p.accountID]!.dq -= p.amount } else { balances[p.accountID]!.cq -= p.amount }
        }
    }

    mutating func accept(_ event: Event, at timestamp: UInt64) {
        switch event {
        case .createAccount(let account): balances[account.id] = Balances()
        case .closeAccount: break
        case .expireHold(let id):
            let hold = holds.removeValue(forKey: id)!
            #expect(hold.expiresAt != 0 && hold.expiresAt <= timestamp, "hold \(id) expired early")
            release(hold.postings)
        case .createEntry(let entry):
            switch entry.kind {
            case .posted:
                for p in entry.postings {
                    if p.side == .debit { balances[p.accountID]!.dp += p.amount } else { balances[p.accountID]!.cp += p.amount }
                }
            case .pending:
                for p in entry.postings {
                    if p.side == .debit { balances[p.accountID]!.dq += p.amount } else { balances[p.accountID]!.cq += p.amount }
                }
                holds[entry.id] = Hold(
                    postings: entry.postings, expiresAt: entry.timeoutSeconds == 0 ? 0 : timestamp + UInt64(entry.timeoutSeconds) * 1_000_000_000)
            default:
                let hold = holds.removeValue(forKey: entry.pendingID)!
                release(hold.postings)
                if entry.kind == .postPending {
                    let posted = entry.postings.isEmpty ? hold.postings : entry.postings
                    for p in posted {
                        if p.side == .debit { balances[p.accountID]!.dp += p.amount } else { balances[p.accountID]!.cp += p.amount }
                    }
                }
            }
        }
    }
}

@Suite struct StateMachineRandomizedTests {
    @Test(arguments: testSeeds(24))
    func invariantsHoldAfterEveryBatchAndReplayIsIdentical(seed: UInt64) {
        var workload = RandomWorkload(seed: seed)
        var machine = LedgerStateMachine()
        var model = BalanceModel()
        var log: [(EventBatch, UInt64, [ResultCode])] = []
        var clock: UInt64 = 1_700_000_000_000_000_000
        var seenCodes = Set<ResultCode>()

        for batchIndex in 0..<300 {
            // As the engine does: due holds expire first, in their own batch.
            let due = machine.takeHoldsDue(atOrBefore: clock, limit: Limits.expiriesPerBatchMax)
            if !due.isEmpty {
                let expiries = EventBatch(due.map { .expireHold($0) })
                let expired = machine.apply(expiries, timestamp: clock)
                #expect(expired.allSatisfy { $0 == .ok }, "seed \(seed) batch \(batchIndex)")
                for (index, id) in due.enumerated() { model.accept(.expireHold(id), at: clock + UInt64(index)) }
                log.append((expiries, clock, expired))
                clock += UInt64(due.count)
            }
            let events = batchIndex == 0 ? workload.openingBatch() : workload.batch()
            let batch = EventBatch(events)
            let before = machine
            let results = machine.apply(batch, timestamp: clock)
            seenCodes.formUnion(results)

            // The same batch on the same state gives the same results and state.
            var again = before
            #expect(again.apply(batch, timestamp: clock) == results, "seed \(seed) batch \(batchIndex)")
            #expect(again.accounts == machine.accounts, "seed \(seed) batch \(batchIndex)")

            // Failed events change nothing: the model applies only accepted ones.
            for (index, (event, result)) in zip(events, results).enumerated() where result == .ok {
                model.accept(event, at: clock + UInt64(index))
            }
            for account in machine.accounts {
                let expected = model.balances[account.id]!
                let actual = BalanceModel.Balances(dp: account.debitsPosted, cp: account.creditsPosted, dq: account.debitsPending, cq: account.creditsPending)
                #expect(actual == expected, "seed \(seed) batch \(batchIndex) account \(account.id)")
            }
            let problems = machine.invariantViolations()
            #expect(problems.isEmpty, "seed \(seed) batch \(batchIndex): \(problems)")
            if !problems.isEmpty { return }

            log.append((batch, clock, results))
            clock += UInt64.random(in: 100_000_000...1_500_000_000, using: &workload.rng)
        }

        // Replaying the whole log on a fresh machine reproduces every result.
        var replay = LedgerStateMachine()
        for (index, (batch, timestamp, results)) in log.enumerated() {
            #expect(replay.apply(batch, timestamp: timestamp) == results, "seed \(seed) replay batch \(index)")
        }
        #expect(replay.accounts == machine.accounts, "seed \(seed)")
        #expect(replay.lastTimestamp == machine.lastTimestamp)
        // The workload must actually reach the interesting paths.
        for code in [ResultCode.ok, .exists, .existsWithDifferentFields, .exceedsCredits, .unbalanced, .accountNotFound] {
            #expect(seenCodes.contains(code), "seed \(seed) never produced \(code)")
        }
    }
}
