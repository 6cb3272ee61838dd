// A data directory opened only to read it: `ledgerctl balance`, `lookup` and
// `history` on a stopped directory, a mounted backup, a standby's files.
//
// It recovers the state exactly as `Ledger.open` does (Recovery.swift), in
// memory, and then answers from it; it creates, renames, truncates and
// writes nothing (shared lock, files opened O_RDONLY), so the directory is
// byte-identical afterwards and a read-only mount works. What a read-write
// open would repair is reported in `notPerformed`, never done:
// - a torn, never-acknowledged WAL tail: ignored (it was never part of the
//   log), reported;
// - stray temporary files, a missing month index, a segment's torn tail:
//   left, reported;
// - applied events the segments lack (the directory was not closed
//   cleanly): balances and `lookup` of current state are served from the
//   log; `history`, `balance(asOf:)` and entry lookups refuse, since the
//   segments cannot answer them completely.
public final class LedgerReader {
    public let layout: DataDirectoryLayout
    private let directory: ReadOnlyDirectory
    private let machine: LedgerStateMachine
    private let segments: SegmentFiler
    /// The last LSN of the log.
    public let lastLSN: UInt64
    /// What a read-write open would have repaired, one line each.
    public let notPerformed: [String]

    public convenience init(at path: String, storage: any Storage = POSIXStorage(), log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        do {
            try self.init(opening: path, storage: storage, log: log)
        } catch let error as LedgerError {
            throw error.withInvestigationHint()
        }
    }

    private init(opening path: String, storage: any Storage, log: @escaping @Sendable (String) -> Void) throws {
        directory = try ReadOnlyDirectory(at: path, storage: storage)
        layout = directory.layout
        var options = Ledger.Options()
        options.log = log
        let recovered = try Ledger.recoverState(storage: storage, layout: layout, meta: directory.meta, options: options, readOnly: true)
        machine = recovered.machine
        segments = recovered.segments
        lastLSN = recovered.scan.lastLSN
        var notPerformed = recovered.temporariesLeft.map { "\($0): stray temporary file, not deleted" }
        if let torn = recovered.scan.tornTailOffset {
            notPerformed.append("\(recovered.scan.lastFilePath): torn, never-acknowledged tail at offset \(torn), not truncated (ignored)")
        }
        notPerformed += recovered.segments.repairsNotPerformed
        if recovered.segments.eventsNotFiled > 0 {
            notPerformed.append(
                "segments: \(recovered.segments.eventsNotFiled) applied events of the WAL are not yet filed (not closed cleanly); history, balances as of a time and entry lookups refuse until a read-write open files them"
            )
        }
        self.notPerformed = notPerformed
        for line in notPerformed { log("read-only: " + line) }
    }

    public func close() { directory.close() }

    public func account(id: UInt128) -> Account? { machine.account(id: id) }

    public func history(account: UInt128, fromNs: UInt64 = 0, toNs: UInt64 = .max, afterNs: UInt64? = nil, limit: Int) throws -> HistoryPage {
        try requireFiled()
        return try hinted { try segments.history(account: account, fromNs: fromNs, toNs: toNs, afterNs: afterNs, limit: limit) }
    }

    public func balance(account: UInt128, asOfNs: UInt64) throws -> AccountBalances {
        try requireFiled()
        return try hinted { try segments.balance(account: account, asOfNs: asOfNs) }
    }

    public func lookup(entryID: UInt128) throws -> (timestamp: UInt64, lsn: UInt64, entry: NewEntry, position: SegmentPosition)? {
        try requireFiled()
        return try hinted { try segments.lookup(entryID: entryID, openMonthTimestamp: machine.entry(id: entryID)?.timestamp) }
    }

    private func hinted<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as LedgerError { throw error.withInvestigationHint() }
    }

    private func requireFiled() throws {
        guard segments.eventsNotFiled == 0 else {
            throw LedgerError(
                .needsRecovery,
                "the segments lack \(segments.eventsNotFiled) applied events of the WAL (the directory was not closed cleanly), and a read-only open does not file them; open it read-write once (start the server, or any ledgerctl write) to answer from the segments",
                path: layout.segmentsDirectory)
        }
    }
}
