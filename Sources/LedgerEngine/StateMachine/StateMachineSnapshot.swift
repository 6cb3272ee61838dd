// Serializing the state machine for snapshots (Specs/snapshot-format.md).
// Entries are written in hash-table order (no sort: a snapshot of 50M ids
// must not cost a sort), so two snapshots of the same state need not be
// byte-identical; `verify` compares them by value.

extension LedgerStateMachine {
    /// Writes accounts (as balance-index slots stamped with `lsn`), entries
    /// and open holds; returns (entries, holds, hold postings) written.
    func writeSnapshotBody(_ w: SnapshotStreamWriter, lsn: UInt64) throws -> (entries: Int, holds: Int, holdPostings: Int) {
        for account in accounts {
            try w.append({ BalanceIndexFormat.encodeSlot(account, lsn: lsn, into: $0) }, bytes: SnapshotFormat.accountBytes)
        }
        var entryCount = 0
        try entries.forEachEntry { low, high, value in
            entryCount += 1
            try w.append({ SnapshotRecord.putEntry($0, idLow: low, idHigh: high, value) }, bytes: SnapshotFormat.entryBytes)
        }
        precondition(entryCount == entries.count, "entry table count")
        var holdPostings = 0
        for (id, hold) in openHolds {
            try w.append(
                { SnapshotRecord.putHold($0, id: id, expiresAtNs: hold.expiresAtNs, postingCount: hold.postings.count) }, bytes: SnapshotFormat.holdBytes)
            for posting in hold.postings {
                try w.append({ SnapshotRecord.putHoldPosting($0, posting) }, bytes: SnapshotFormat.holdPostingBytes)
            }
            holdPostings += hold.postings.count
        }
        return (entryCount, openHolds.count, holdPostings)
    }

    /// Restores the state a snapshot body describes. Throws `corruption`
    /// (naming the file) when the body is inconsistent.
    init(snapshot r: SnapshotStreamReader, header: SnapshotHeader) throws {
        // A small snapshot gets a small table (it grows as entries come).
        self.init(entryCapacity: min(1 << 16, max(64, 2 * header.entryCount)))
        let path = r.file.path
        func bad(_ what: String) -> LedgerError { LedgerError(.corruption, "snapshot body: \(what)", path: path) }
        for _ in 0..<header.accountCount {
            guard let (account, slotLSN) = try r.next(SnapshotFormat.accountBytes, { BalanceIndexFormat.decodeSlot($0) }), slotLSN == header.lsn else {
                throw bad("account slot \(accounts.count) fails its checksum or names another LSN")
            }
            guard account.id != 0, accountSlotByID[account.id] == nil, account.flags.isSubset(of: .known) else {
                throw bad("account \(account.id) is invalid or repeated")
            }
            accountSlotByID.insertNew(account.id, Int32(accounts.count))
            accounts.append(account)
            slotIsChanged.append(false)
        }
        guard let totals = Self.ledgerTotals(of: accounts) else { throw bad("a ledger's total posted or pending debits pass 2^128 - 1") }
        ledgerTotals = totals
        var capacity = 1 << 16
        while capacity * 36 < header.entryCount * 64 + 64 { capacity *= 2 }  // no shard grows while loading
        entries = ShardedIDTable(capacity: capacity, emptyValue: entries.emptyValue)
        try loadEntries(r, count: header.entryCount, bad)
        for _ in 0..<header.holdCount {
            let (id, expiresAtNs, count) = try r.next(SnapshotFormat.holdBytes) { SnapshotRecord.hold($0) }
            guard count >= 1, count <= Limits.entryPostingsMax, openHolds[id] == nil, entries[id]?.holdState == .open else {
                throw bad("hold \(id) is invalid")
            }
            var postings: [HoldPosting] = []
            for _ in 0..<count {
                let posting = try r.next(SnapshotFormat.holdPostingBytes) { SnapshotRecord.holdPosting($0) }
                guard posting.slot >= 0, Int(posting.slot) < accounts.count, posting.side.isValid else { throw bad("hold \(id) names an unknown account slot") }
                postings.append(posting)
            }
            openHolds[id] = OpenHold(expiresAtNs: expiresAtNs, postings: postings)
            if expiresAtNs > 0 { expiries.push(.init(expiresAtNs: expiresAtNs, id: id)) }
        }
        lastTimestamp = header.lastTimestamp
        residentSinceNs = header.residentSinceNs
        lastAppliedTimestamp = header.lastAppliedTimestamp
    }
}

extension LedgerStateMachine {
    /// Entries in groups of `groupEntries`, each sorted by shard before it
    /// is inserted. The snapshot's order is random over the whole table
    /// (hundreds of MB), so an insert per entry in that order walked the
    /// page tables for a new page each time: 91% of this function's samples
    /// were on the prefetch of the entry's bucket, ~150 ns an entry at 8M
    /// entries (Benchmarks/RESULTS.md, issue 13). Shard by shard, a group's
    /// inserts land in one 1/256 of the table at a time, whose pages the
    /// TLB holds. Costs two buffers of a group (2 × 40 MiB) while loading.
    private mutating func loadEntries(_ r: SnapshotStreamReader, count: Int, _ bad: (String) -> LedgerError) throws {
        let groupEntries = 1 << 20
        let chunkEntries = 1_024
        let bytes = SnapshotFormat.entryBytes
        let shardCount = ShardedIDTable<EntryRecord>.shardCount
        var read = [UInt8](repeating: 0, count: min(count, groupEntries) * bytes)
        var sorted = read
        var loaded = 0
        while loaded < count {
            let n = min(groupEntries, count - loaded)
            // The group as it comes, and where each shard's entries start.
            var starts = [Int](repeating: 0, count: shardCount + 1)
            var done = 0
            while done < n {
                let k = min(chunkEntries, n - done)
                try r.next(k * bytes) { p in
                    read.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: done * bytes).copyMemory(from: p.baseAddress!, byteCount: p.count) }
                }
                done += k
            }
            read.withUnsafeBytes { p in
                for j in 0..<n { starts[entries.shard(_LE.u128(p, j * bytes + SnapshotRecord.entryIDOffset)) + 1] += 1 }
            }
            for s in 0..<shardCount { starts[s + 1] += starts[s] }
            read.withUnsafeBytes { from in
                sorted.withUnsafeMutableBytes { to in
                    var next = starts
                    for j in 0..<n {
                        let s = entries.shard(_LE.u128(from, j * bytes + SnapshotRecord.entryIDOffset))
                        to.baseAddress!.advanced(by: next[s] * bytes).copyMemory(from: from.baseAddress!.advanced(by: j * bytes), byteCount: bytes)
                        next[s] += 1
                    }
                }
            }
            if let failed = sorted.withUnsafeBytes({ insertEntries($0, count: n) }) { throw bad("entry \(failed) is invalid or repeated") }
            loaded += n
        }
    }

    /// Inserts `count` snapshot entries in their order, with the buckets of
    /// the entries `prefetchDistance` ahead already loading; returns the id
    /// of the first invalid or repeated one.
    private mutating func insertEntries(_ p: UnsafeRawBufferPointer, count n: Int) -> UInt128? {
        let prefetchDistance = 16
        let bytes = SnapshotFormat.entryBytes
        for j in 0..<min(prefetchDistance, n) { entries.prefetch(_LE.u128(p, j * bytes + SnapshotRecord.entryIDOffset)) }
        for j in 0..<n {
            if j + prefetchDistance < n { entries.prefetch(_LE.u128(p, (j + prefetchDistance) * bytes + SnapshotRecord.entryIDOffset)) }
            let (id, record, valid) = SnapshotRecord.entry(UnsafeRawBufferPointer(rebasing: p[(j * bytes)..<((j + 1) * bytes)]))
            guard valid, id != 0, entries.insertIfAbsent(id, record) else { return id }
        }
        return nil
    }

    /// The first difference from `other` in accounts, entries, open holds
    /// and last timestamp; nil when both hold the same state.
    func difference(from other: LedgerStateMachine) -> String? {
        if accounts != other.accounts {
            guard accounts.count == other.accounts.count else { return "\(accounts.count) accounts vs \(other.accounts.count)" }
            let differing = zip(accounts, other.accounts).filter { $0 != $1 }
            let named = differing.prefix(5).map { mine, theirs in
                "account \(mine.id): log debits \(mine.debitsPosted)/\(mine.debitsPending) credits \(mine.creditsPosted)/\(mine.creditsPending), "
                    + "snapshot account \(theirs.id) debits \(theirs.debitsPosted)/\(theirs.debitsPending) credits \(theirs.creditsPosted)/\(theirs.creditsPending)"
            }
            return "\(differing.count) account(s) differ (posted/pending): " + named.joined(separator: "; ")
        }
        if lastTimestamp != other.lastTimestamp { return "last timestamp \(lastTimestamp) vs \(other.lastTimestamp)" }
        if lastAppliedTimestamp != other.lastAppliedTimestamp { return "last successful event \(lastAppliedTimestamp) vs \(other.lastAppliedTimestamp)" }
        if residentSinceNs != other.residentSinceNs { return "resident window from \(residentSinceNs) vs \(other.residentSinceNs)" }
        if entries.count != other.entries.count { return "\(entries.count) entries vs \(other.entries.count)" }
        var differing: UInt128?
        entries.forEachEntry { low, high, value in
            let id = UInt128(high) << 64 | UInt128(low)
            if differing == nil && other.entries[id] != value { differing = id }
        }
        if let differing { return "entry \(differing) differs" }
        if openHolds != other.openHolds { return "open holds differ (\(openHolds.count) vs \(other.openHolds.count))" }
        return nil
    }
}
