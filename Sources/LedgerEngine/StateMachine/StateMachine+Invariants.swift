// The invariants listed at the top of StateMachine.swift, checked in full
// (tests and `verify`; O(n), never on the hot path).

extension LedgerStateMachine {
    // MARK: Invariants

    /// Every broken invariant, described. Empty when the state is sound. O(n):
    /// for tests and `verify`, not the hot path.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        var sums: [UInt32: (dp: UInt128, cp: UInt128, dq: UInt128, cq: UInt128)] = [:]
        var heldDebits = [UInt128](repeating: 0, count: accounts.count)
        var heldCredits = [UInt128](repeating: 0, count: accounts.count)
        for hold in openHolds.values {
            for held in hold.postings {
                if held.side == .debit { heldDebits[Int(held.slot)] += held.amount } else { heldCredits[Int(held.slot)] += held.amount }
            }
        }
        for (slot, account) in accounts.enumerated() {
            var sum = sums[account.ledger] ?? (0, 0, 0, 0)
            sum.dp &+= account.debitsPosted
            sum.cp &+= account.creditsPosted
            sum.dq &+= account.debitsPending
            sum.cq &+= account.creditsPending
            sums[account.ledger] = sum
            if account.debitsPending != heldDebits[slot] || account.creditsPending != heldCredits[slot] {
                problems.append(
                    "account \(account.id): pending \(account.debitsPending)/\(account.creditsPending) but open holds sum to \(heldDebits[slot])/\(heldCredits[slot])"
                )
            }
            if account.flags.contains(.debitsMustNotExceedCredits) && Self.sumExceeds(account.debitsPosted, account.debitsPending, account.creditsPosted) {
                problems.append("account \(account.id): debits exceed credits despite its flag")
            }
            if account.flags.contains(.creditsMustNotExceedDebits) && Self.sumExceeds(account.creditsPosted, account.creditsPending, account.debitsPosted) {
                problems.append("account \(account.id): credits exceed debits despite its flag")
            }
        }
        // Sums wrap above (reported below through the totals, never trapped on).
        if let recomputed = Self.ledgerTotals(of: accounts) {
            if recomputed.filter({ $0.value != LedgerTotal() }) != ledgerTotals.filter({ $0.value != LedgerTotal() }) {
                problems.append("per-ledger totals kept by the state machine differ from the sums of the accounts")
            }
        } else {
            problems.append("a ledger's total posted or pending debits pass 2^128 - 1")
        }
        for (ledger, sum) in sums.sorted(by: { $0.key < $1.key }) {
            if sum.dp != sum.cp { problems.append("ledger \(ledger): posted debits \(sum.dp) != posted credits \(sum.cp)") }
            if sum.dq != sum.cq { problems.append("ledger \(ledger): pending debits \(sum.dq) != pending credits \(sum.cq)") }
        }
        return problems
    }

    /// a + b > limit, where an overflowing a + b exceeds any limit.
    static func sumExceeds(_ a: UInt128, _ b: UInt128, _ limit: UInt128) -> Bool {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow || sum > limit
    }
}
