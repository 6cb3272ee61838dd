import Foundation
import LedgerEngine

/// A settable clock for the engine (`Ledger.Options.clock`).
public final class TestClock: @unchecked Sendable {
    let lock = NSLock()
    var nowNs: UInt64
    public init(_ start: UInt64) { nowNs = start }
    public func read() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return nowNs
    }
    public func advance(_ ns: UInt64) {
        lock.lock()
        nowNs += ns
        lock.unlock()
    }
}

/// A payments workload spread over months through an injected clock:
/// wallets and a gateway, top-ups, transfers, holds (some with timeouts)
/// posted in full or in part or voided, and a few rejected events. It
/// remembers what the engine said at sampled moments, so history and
/// balance-as-of can be checked against it.
public struct MultiMonthWorkload {
    public var rng: SeededRandom
    public let accountCount: Int
    public private(set) var nextID: UInt128 = 1_000
    public private(set) var openHolds: [(id: UInt128, amount: UInt128, from: UInt128, to: UInt128)] = []
    /// Ids of entries the engine accepted.
    public private(set) var appliedEntryIDs: [UInt128] = []
    /// (engine time, account, its balances then).
    public private(set) var samples: [(timeNs: UInt64, account: UInt128, balances: AccountBalances)] = []

    public init(seed: UInt64, accountCount: Int = 8) {
        rng = SeededRandom(seed: seed)
        self.accountCount = accountCount
    }

    /// Creates the accounts (ledger 840, ids 1...accountCount).
    public func createAccounts(_ ledger: Ledger) throws {
        let results = try ledger.submitAndWait(EventBatch((1...accountCount).map { usd(UInt128($0)) }))
        precondition(results.allSatisfy { $0 == .ok }, "account creation failed: \(results)")
    }

    /// One batch of 1–`eventsMax` random events.
    public mutating func nextBatch(eventsMax: Int = 6) -> EventBatch {
        var events: [Event] = []
        for _ in 0..<Int.random(in: 1...eventsMax, using: &rng) {
            nextID += 1
            let from = UInt128(Int.random(in: 1...accountCount, using: &rng))
            let to = from % UInt128(accountCount) + 1
            let amount = UInt128(Int.random(in: 1...10_000, using: &rng))
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1:
                events.append(
                    transfer(
                        nextID, from: from, to: to, amount, kind: .pending,
                        timeout: Bool.random(using: &rng) ? 0 : UInt32.random(in: 1...3, using: &rng) * 86_400))
                openHolds.append((nextID, amount, from, to))
            case 2 where !openHolds.isEmpty:
                let hold = openHolds.remove(at: Int.random(in: 0..<openHolds.count, using: &rng))
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: events.append(.createEntry(NewEntry(id: nextID, kind: .postPending, postings: [], pendingID: hold.id)))
                case 1:
                    let part = UInt128.random(in: 1...hold.amount, using: &rng)
                    events.append(
                        .createEntry(NewEntry(id: nextID, kind: .postPending, postings: [.debit(hold.from, part), .credit(hold.to, part)], pendingID: hold.id)))
                default: events.append(.createEntry(NewEntry(id: nextID, kind: .voidPending, postings: [], pendingID: hold.id)))
                }
            case 3:
                events.append(transfer(nextID, from: from, to: from, amount))  // rejected or not, the engine decides
            default:
                events.append(transfer(nextID, from: from, to: to, amount))
            }
        }
        return EventBatch(events)
    }

    /// Submits `batches` batches, advancing `clock` by up to `stepNsMax`
    /// before each; samples an account's balances every few batches.
    public mutating func run(_ ledger: Ledger, clock: TestClock, batches: Int, stepNsMax: UInt64) throws {
        for round in 0..<batches {
            clock.advance(UInt64.random(in: 1...stepNsMax, using: &rng))
            let batch = nextBatch()
            let results = try ledger.submitAndWait(batch)
            batch.bytes.withUnsafeBytes { p in
                var index = 0
                EventBatchReader.forEach(p, eventCount: batch.eventCount) { offset, _ in
                    if results[index] == .ok, case .createEntry(let entry) = EventBatchReader.decode(p, at: offset) { appliedEntryIDs.append(entry.id) }
                    index += 1
                }
            }
            if round % 7 == 0 {
                let account = UInt128(Int.random(in: 1...accountCount, using: &rng))
                let state = try ledger.account(id: account)!
                samples.append((try ledger.read { $0.lastTimestamp }, account, AccountBalances(state)))
            }
        }
    }
}
