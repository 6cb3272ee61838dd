// Queries: each runs on the apply thread between groups (`Ledger.read`),
// against durable state only, while the apply thread holds the durable side
// (CommitPipeline.swift) and so may read the segments too.

extension Ledger {
    public func account(id: UInt128) throws -> Account? { try read { $0.account(id: id) } }

    public func status() throws -> Status {
        let depth = queueDepthBatches
        return try read { machine in
            Status(lastLSN: self.wal.nextLSN - 1, accounts: machine.accountCount, residentEntries: machine.entryCount, queueDepthBatches: depth)
        }
    }

    /// Runs `body` against the segments on the apply thread while no group is
    /// in flight (nothing is being filed).
    func readSegments<T>(_ body: @escaping (SegmentFiler) throws -> T) throws -> T {
        let segments = self.segments
        return try read { _ in
            // A month sealed moments ago may still have its index being
            // written (SealedIndexWriter.swift); reads wait for it.
            Result { () throws(any Error) -> T in
                try segments.awaitIndexWrites()
                return try body(segments)
            }.mapError { (error: any Error) -> any Error in
                (error as? LedgerError)?.withInvestigationHint() ?? error
            }
        }.get()
    }

    /// A page of the account's history (see `SegmentFiler.history`).
    public func history(account: UInt128, fromNs: UInt64 = 0, toNs: UInt64 = .max, afterNs: UInt64? = nil, limit: Int) throws -> HistoryPage {
        try readSegments { try $0.history(account: account, fromNs: fromNs, toNs: toNs, afterNs: afterNs, limit: limit) }
    }

    /// Turns the history read-ahead hint on or off (for A/B benchmarks).
    public func setHistoryReadAhead(_ on: Bool) throws { try readSegments { $0.historyReadAhead = on } }

    /// The account's balances as of a past moment.
    public func balance(account: UInt128, asOfNs: UInt64) throws -> AccountBalances {
        try readSegments { try $0.balance(account: account, asOfNs: asOfNs) }
    }

    /// The applied entry with this id, from any month.
    public func lookup(entryID: UInt128) throws -> (timestamp: UInt64, lsn: UInt64, entry: NewEntry, position: SegmentPosition)? {
        let segments = self.segments
        return try read { machine in
            Result { () throws(any Error) in try segments.lookup(entryID: entryID, openMonthTimestamp: machine.entry(id: entryID)?.timestamp) }
                .mapError { (error: any Error) -> any Error in (error as? LedgerError)?.withInvestigationHint() ?? error }
        }.get()
    }

    /// The entry's record: from the resident window, or looked up in the
    /// sealed months if it was evicted (its hold state is then
    /// `settledLongAgo` for a pending entry).
    public func entry(id: UInt128) throws -> EntryRecord? {
        let evicted = self.evicted
        return try read { machine in
            Result {
                if let record = machine.entry(id: id) { return record }
                guard machine.residentSinceNs > 0 else { return nil }
                return try evicted.lookup([id], windowStartNs: machine.residentSinceNs)[id]
            }
        }.get()
    }

    /// Those of `ids` that are not applied entries, resident or evicted
    /// (for tests that check every acknowledged id survived).
    public func missingEntries(_ ids: [UInt128]) throws -> [UInt128] {
        let evicted = self.evicted
        return try read { machine in
            Result {
                let notResident = ids.filter { machine.entry(id: $0) == nil }
                guard !notResident.isEmpty, machine.residentSinceNs > 0 else { return notResident }
                let found = try evicted.lookup(notResident, windowStartNs: machine.residentSinceNs)
                return notResident.filter { found[$0] == nil }
            }
        }.get()
    }
}
