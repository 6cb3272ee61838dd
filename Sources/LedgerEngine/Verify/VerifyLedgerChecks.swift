// `verify`'s checks of the replayed state: the ledger invariants and the
// per-ledger totals; every account as the segments sum it up against the
// account as the log replays it; and the watchdog, every balance index slot
// against the replayed account.

extension Verifier {
    /// Invariants, counts and per-ledger totals of the replayed state.
    static func checkLedgerTotals(_ machine: LedgerStateMachine, evicted: EvictedEntries, layout: DataDirectoryLayout, report: inout VerifyReport) {
        for violation in machine.invariantViolations() {
            report.problems.append(.init(severity: .error, file: layout.root, offset: nil, kind: "invariant", message: violation))
        }
        report.accounts = machine.accountCount
        // Every entry checked: those in memory and those evicted to the sealed months.
        report.entries = machine.entryCount + evicted.filteredIDCount
        report.openHolds = machine.openHoldCount
        var totals: [UInt32: VerifyReport.LedgerTotals] = [:]
        for account in machine.accounts {
            var t = totals[account.ledger] ?? .init(ledger: account.ledger)
            // The state machine bounds these sums (`ledgerTotalOverflow`); a log
            // that passes the bound is reported, never trapped on.
            var fits = true
            for (sum, amount) in [
                (\VerifyReport.LedgerTotals.debitsPosted, account.debitsPosted), (\.creditsPosted, account.creditsPosted),
                (\.debitsPending, account.debitsPending), (\.creditsPending, account.creditsPending),
            ] {
                let (value, overflow) = t[keyPath: sum].addingReportingOverflow(amount)
                t[keyPath: sum] = value
                fits = fits && !overflow
            }
            if !fits {
                report.problems.append(
                    .init(
                        severity: .error, file: layout.root, offset: nil, kind: "ledger total overflow",
                        message:
                            "ledger \(account.ledger): a sum of its balances passes 2^128 - 1 at account \(account.id) (the engine rejects such entries with ledgerTotalOverflow)"
                    ))
            }
            totals[account.ledger] = t
        }
        report.ledgers = totals.values.sorted { $0.ledger < $1.ledger }
    }

    /// The segments are checked on their own (records, roots, seals, indexes,
    /// archives) whatever the WAL holds; against the log only while the log
    /// could be replayed. Then the watchdog over history: every account as
    /// the segments sum it up equals the account as the log replays it.
    static func checkHistory(_ replay: VerifyWALReplay, layout: DataDirectoryLayout, report: inout VerifyReport) throws {
        let segmentReport = replay.segmentReport
        report.segmentFiles = segmentReport.segmentFiles
        report.segmentRecords = segmentReport.segmentRecords
        report.accountCopiesChecked = segmentReport.accountCopiesChecked
        report.sealedMonths = segmentReport.sealedMonths
        report.monthForms = segmentReport.monthForms
        let comparedWithTheLog: Set<String> = ["segment differs from the log", "segments behind the log"]
        report.problems += segmentReport.problems.filter { replay.logUsable || !comparedWithTheLog.contains($0.kind) }
        guard replay.logUsable else {
            _ = try? replay.fromSegments.get()
            report.problems.append(
                .init(
                    severity: .warning, file: layout.segmentsDirectory, offset: nil, kind: "segments checked alone",
                    message: "the WAL has errors (above), so the segments were checked on their own but not compared with the log"))
            return
        }
        guard let fromSegments = try replay.fromSegments.get() else { return }
        let machine = replay.machine
        for account in machine.accounts {
            let summed = fromSegments.account(account.id)
            if summed?.balances != AccountBalances(account) || summed?.flags != account.flags || summed?.ledger != account.ledger {
                report.problems.append(
                    .init(
                        severity: .error, file: layout.segmentsDirectory, offset: nil, kind: "history does not sum to the balance",
                        message:
                            "account \(account.id): the segments sum to \(summed.map { "\($0.balances)" } ?? "no account"), the log to \(AccountBalances(account))"
                    ))
            }
        }
        if fromSegments.accounts.count != machine.accountCount {
            report.problems.append(
                .init(
                    severity: .error, file: layout.segmentsDirectory, offset: nil, kind: "history does not sum to the balance",
                    message: "the segments hold \(fromSegments.accounts.count) accounts, the log \(machine.accountCount)"))
        }
    }

    /// The watchdog: every stored balance against the recomputed one.
    static func checkBalanceIndex(
        _ replay: VerifyWALReplay, storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], report: inout VerifyReport,
        progress: (@Sendable (VerifyProgress) -> Void)?
    ) throws {
        guard replay.logUsable else {
            report.problems.append(
                .init(
                    severity: .warning, file: layout.indexPath, offset: nil, kind: "watchdog skipped",
                    message: "the log could not be replayed to its end, so balances were not compared"))
            return
        }
        let machine = replay.machine
        switch try BalanceIndex.readSlots(storage: storage, layout: layout, directoryID: directoryID, walLastLSN: replay.scan.lastLSN) {
        case .failure(let reason):
            report.problems.append(
                .init(
                    severity: .error, file: layout.indexPath, offset: nil, kind: "index unusable",
                    message: "\(reason.text); the next open rebuilds it from the log"))
        case .success(let slots):
            progress?(VerifyProgress(phase: "index", done: slots.count, total: slots.count))
            if slots.count != machine.accountCount {
                report.problems.append(
                    .init(
                        severity: .error, file: layout.indexPath, offset: nil, kind: "index account count",
                        message: "index holds \(slots.count) accounts, the log \(machine.accountCount)"))
            }
            for (slot, account) in machine.accounts.enumerated() where slot < slots.count {
                report.indexSlotsChecked += 1
                let offset = BalanceIndexFormat.slotsOffset + slot * BalanceIndexFormat.slotBytes
                guard let (stored, _) = slots[slot] else {
                    report.problems.append(
                        .init(severity: .error, file: layout.indexPath, offset: offset, kind: "slot checksum", message: "slot \(slot) fails its checksum"))
                    continue
                }
                if stored != account {
                    report.problems.append(
                        .init(
                            severity: .error, file: layout.indexPath, offset: offset, kind: "balance mismatch",
                            message:
                                "account \(account.id): index has debits \(stored.debitsPosted)/\(stored.debitsPending) credits \(stored.creditsPosted)/\(stored.creditsPending) (posted/pending), the log sums to debits \(account.debitsPosted)/\(account.debitsPending) credits \(account.creditsPosted)/\(account.creditsPending)"
                        ))
                }
            }
        }
    }
}
