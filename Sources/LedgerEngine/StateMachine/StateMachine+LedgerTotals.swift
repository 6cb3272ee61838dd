// Per-ledger totals: the limit that keeps every audit sum in 128 bits.
//
// Each account balance is checked against UInt128 overflow, but sums over
// accounts are not: 2^128 − 1 from account 1 to 2 and then 1 from account 3
// to 4 are each fine, yet the ledger's total posted debits (which verify,
// digest, month seals and month totals compute) would be 2^128. So the state
// machine keeps, per ledger, the sum of its accounts' posted debits and of
// their pending debits (credits equal debits per ledger: entries balance),
// and rejects an entry that would push either past 2^128 − 1 with
// `ledgerTotalOverflow` (Specs/data-model.md). Every sum over a ledger's
// accounts, or over a month's movement (at most the ledger's total), then
// fits in UInt128.

@usableFromInline
struct LedgerTotal: Sendable, Equatable {
    @usableFromInline var posted: UInt128 = 0
    @usableFromInline var pending: UInt128 = 0
    @usableFromInline init() {}
}

extension LedgerStateMachine {
    /// The totals the touched accounts (`scratchTouched`, against their
    /// committed state in `accounts`) would give their ledgers, into
    /// `scratchLedgerTotals`; `ledgerTotalOverflow` when one passes the limit.
    /// Pending is released before new amounts are added, as the entry does.
    @usableFromInline
    mutating func checkLedgerTotals() -> ResultCode? {
        scratchLedgerTotals.removeAll(keepingCapacity: true)
        for (index, slot) in scratchTouchedSlots.enumerated() {
            let before = accounts[Int(slot)]
            let after = scratchTouched[index]
            var position = 0
            while position < scratchLedgerTotals.count && scratchLedgerTotals[position].ledger != before.ledger { position += 1 }
            if position == scratchLedgerTotals.count {
                scratchLedgerTotals.append((before.ledger, ledgerTotals[before.ledger] ?? LedgerTotal()))
            }
            // Posted debits only grow; pending debits move either way.
            assert(after.debitsPosted >= before.debitsPosted, "posted debits of account \(before.id) went down")
            var total = scratchLedgerTotals[position].total
            if after.debitsPending < before.debitsPending { total.pending -= before.debitsPending - after.debitsPending }
            let pendingAdded = after.debitsPending > before.debitsPending ? after.debitsPending - before.debitsPending : 0
            guard Self.add(&total.pending, pendingAdded), Self.add(&total.posted, after.debitsPosted - before.debitsPosted) else {
                return .ledgerTotalOverflow
            }
            scratchLedgerTotals[position].total = total
        }
        return nil
    }

    /// Totals recomputed from the accounts (snapshot load); nil when a sum
    /// passes the limit, which the state machine never lets happen.
    static func ledgerTotals(of accounts: [Account]) -> [UInt32: LedgerTotal]? {
        var totals: [UInt32: LedgerTotal] = [:]
        for account in accounts {
            var total = totals[account.ledger] ?? LedgerTotal()
            guard add(&total.posted, account.debitsPosted), add(&total.pending, account.debitsPending) else { return nil }
            totals[account.ledger] = total
        }
        return totals
    }
}
