import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// History and balance-as-of from the segments agree with the engine's own
/// balances, across months, holds, partial posts, voids and expiries.
@Suite struct SegmentHistoryTests {
    static let root = "/sim/history"

    @Test(arguments: testSeeds(6))
    func historyReplaysToTheEnginesBalancesAtEveryPoint(seed: UInt64) throws {
        let disk = SimulatedDisk(seed: seed)
        var rng = SeededRandom(seed: seed)
        let clock = SegmentFilingTests.Clock(UTCMonth(year: 2026, month: 11).next.startNs - 5_000_000_000)
        var options = SegmentFilingTests.options(clock)
        options.walFileBytes = 256 * 1024
        try Ledger.initialize(at: Self.root, storage: disk, options: options)
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: options)
        _ = try ledger.submitAndWait(EventBatch((1...6).map { usd(UInt128($0)) }))
        var pending: [UInt128] = []
        var id: UInt128 = 100
        var snapshots: [(UInt64, UInt128, AccountBalances)] = []  // (time, account, balances then)
        for round in 0..<150 {
            clock.advance(UInt64.random(in: 0...150_000_000, using: &rng))
            var events: [Event] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                id += 1
                let from = UInt128(Int.random(in: 1...6, using: &rng))
                let to = from % 6 + 1
                let amount = UInt128(Int.random(in: 1...100, using: &rng))
                switch Int.random(in: 0..<6, using: &rng) {
                case 0, 1:
                    events.append(transfer(id, from: from, to: to, amount, kind: .pending, timeout: UInt32.random(in: 0...1, using: &rng)))
                    pending.append(id)
                case 2 where !pending.isEmpty:
                    let hold = pending.removeFirst()
                    let kind: EntryKind = Bool.random(using: &rng) ? .postPending : .voidPending
                    events.append(.createEntry(NewEntry(id: id, kind: kind, postings: [], pendingID: hold)))
                default:
                    events.append(transfer(id, from: from, to: to, amount))
                }
            }
            _ = try ledger.submitAndWait(EventBatch(events))
            if round % 10 == 0 {
                let account = UInt128(Int.random(in: 1...6, using: &rng))
                let state = try ledger.account(id: account)!
                snapshots.append((try ledger.read { $0.lastTimestamp }, account, AccountBalances(state)))
            }
        }
        clock.advance(3_000_000_000)
        _ = try ledger.submitAndWait(EventBatch([usd(7)]))  // lets every timed hold expire
        let finals = try (1...6).map { try ledger.account(id: UInt128($0))! }
        try ledger.close()

        var sawExpiry = false
        for account in finals {
            let items = try SegmentHistory.history(storage: disk, at: Self.root, account: account.id, limit: .max)
            #expect(items.last?.balances == AccountBalances(account), "seed \(seed) account \(account.id)")
            sawExpiry = sawExpiry || items.contains { $0.kind == .expireHold }
            // Deltas add up to the balances.
            var running = AccountBalances()
            for item in items {
                running.debitsPosted += item.debitsPostedDelta
                running.creditsPosted += item.creditsPostedDelta
                running.debitsPending = UInt128(Int128(running.debitsPending) + item.debitsPendingDelta)
                running.creditsPending = UInt128(Int128(running.creditsPending) + item.creditsPendingDelta)
                #expect(running == item.balances, "seed \(seed) account \(account.id) at \(item.timestamp)")
            }
            // A time window returns exactly the items inside it.
            if items.count > 4 {
                let window = try SegmentHistory.history(
                    storage: disk, at: Self.root, account: account.id, fromNs: items[1].timestamp, toNs: items[3].timestamp, limit: .max)
                #expect(window == Array(items[1...3]))
                #expect(try SegmentHistory.history(storage: disk, at: Self.root, account: account.id, limit: 2) == Array(items[0..<2]))
            }
        }
        #expect(sawExpiry, "seed \(seed): the workload never expired a hold")
        // Balance as of a past moment equals what the engine said then.
        for (time, account, then) in snapshots {
            #expect(
                try SegmentHistory.balance(storage: disk, at: Self.root, account: account, asOfNs: time) == then, "seed \(seed) account \(account) at \(time)")
        }
        #expect(try SegmentHistory.balance(storage: disk, at: Self.root, account: 1, asOfNs: 0) == AccountBalances())
    }
}
