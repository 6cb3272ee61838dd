// Recovery's cross-check of two independent derivations of the same log:
// the state machine (newest snapshot + WAL replay) and the segments (each
// sealed month's closing balances + the open month's records). A snapshot
// whose balances were altered with its checksums recomputed replays
// cleanly, so only a second derivation can notice; when they disagree about
// an account, open refuses and names it instead of picking one.

extension Ledger {
    /// Accounts named in a refusal, at most.
    static let crossCheckAccountsNamedMax = 5

    static func crossCheck(
        _ machine: LedgerStateMachine, against segments: SegmentState, snapshot: (lsn: UInt64, path: String)?, layout: DataDirectoryLayout
    ) throws {
        var differing: [String] = []
        var differingCount = 0
        for account in machine.accounts {
            let filed = segments.account(account.id)
            guard filed?.balances != AccountBalances(account) || filed?.ledger != account.ledger else { continue }
            differingCount += 1
            guard differing.count < crossCheckAccountsNamedMax else { continue }
            let recovered = "debits \(account.debitsPosted)/\(account.debitsPending) credits \(account.creditsPosted)/\(account.creditsPending)"
            let fromSegments =
                filed.map {
                    "debits \($0.balances.debitsPosted)/\($0.balances.debitsPending) credits \($0.balances.creditsPosted)/\($0.balances.creditsPending)"
                } ?? "no such account"
            differing.append("account \(account.id): recovered \(recovered), segments \(fromSegments)")
        }
        guard differingCount > 0 else { return }
        let source = snapshot.map { "\($0.path) (LSN \($0.lsn)) plus the WAL" } ?? "the WAL"
        throw LedgerError(
            .corruption,
            "the state recovered from \(source) disagrees with the segments about \(differingCount) account(s) (posted/pending): \(differing.joined(separator: "; ")); nothing was changed; investigate with `ledgerctl verify`",
            path: snapshot?.path ?? layout.segmentsDirectory)
    }
}
