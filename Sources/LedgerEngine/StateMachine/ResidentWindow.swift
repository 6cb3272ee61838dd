// The resident window: which entry records the state machine keeps in
// memory. Every account and open hold stays; an entry record stays while
// its timestamp is in the window, or while its hold is open. Older records
// are evicted, and an id the window no longer holds is looked up by the
// engine in the sealed months (their bloom filters and id tables) and
// handed to `apply` in `coldEntries`. So memory is bounded by the window's
// entries, not by history (Benchmarks/RESULTS.md has the figures).
//
// The window's rule is fixed per data directory (`ledger.meta`,
// Specs/ledger-meta.md), because it decides results: a pending entry whose
// hold was settled answers a second settlement with `pendingAlreadyPosted`
// (or voided, expired) while resident and `pendingSettledLongAgo` once
// evicted, and the log records every result, which replay checks.
// - 1 month (meta version 2, the default): at the start of each group
//   (WAL record), records before the month of the last event that
//   succeeded are evicted. The group that first succeeds in a new month was
//   handed to the durability thread before the next group starts, and its
//   filing seals the old month, so a lookup in the next group could wait
//   at most for that group's sync and filing (never for a batch of its own
//   group, which would deadlock: a per-batch rule would evict a month whose
//   last events sit, unfiled, in the group being built). It does not wait
//   even for that: the eviction's table is kept until the old month is
//   sealed and indexed, and answers the lookups of its ids (RetiredEntries).
// - 2 months (meta version 1): at the start of a batch whose last event
//   falls in a later month than the last event that succeeded, records
//   before that event's month are evicted: the window is the current and
//   the previous month.
//
// Determinism: both rules are functions of the log (its groups, batches and
// results) and of the state alone, so replay (from the start, or from a
// snapshot, which holds exactly the resident records and the window start)
// evicts at the same points and gives the same results.

extension LedgerStateMachine {
    /// Evicts the records that fall out of the window once a batch ending at
    /// `batchLastNs` is applied; returns their ids (the engine adds them to
    /// its filter of evicted ids). Called by the engine before it looks up
    /// the batch's cold ids, and by `apply` (then a no-op).
    public mutating func evictBeforeBatch(endingAt batchLastNs: UInt64) -> [UInt128] {
        guard evictsOldEntries, residentWindowMonths == 2 else { return [] }
        // The window starts at the month of the last event that succeeded:
        // every filed event before it is followed by that one, whose filing
        // seals their months, so every evicted record is in a sealed month
        // (or will be, once the groups in flight are filed: a lookup waits
        // for those only).
        // Fast path, every batch: no month boundary since the last check.
        // The bound only grows with `lastAppliedTimestamp`, so a stale one
        // is still right; the calendar is consulted once per month.
        guard lastAppliedTimestamp > 0, batchLastNs >= noEvictionBeforeNs else { return [] }
        let current = UTCMonth(containing: lastAppliedTimestamp)
        noEvictionBeforeNs = current.next.startNs
        guard current < UTCMonth(containing: batchLastNs), current.startNs > residentSinceNs else { return [] }
        return evict(before: current.startNs)
    }

    /// The one-month rule: at the start of a group (WAL record), evicts
    /// the records before the month of the last event that succeeded;
    /// returns their ids. Called by the engine as it starts a group, by
    /// replay at each group record, and by the rebuild from segments at
    /// each LSN.
    public mutating func evictAtGroupStart() -> [UInt128] { evictAtGroupStartRetiring()?.ids ?? [] }

    /// As `evictAtGroupStart`, with the entry table as it was before the
    /// eviction (no copy: the eviction rebuilds the table, the old buckets
    /// stay with `RetiredEntries`). Nil when nothing was evicted.
    mutating func evictAtGroupStartRetiring() -> RetiredEntries? {
        guard evictsOldEntries, residentWindowMonths == 1 else { return nil }
        // The bound only grows with `lastAppliedTimestamp`: the calendar is
        // consulted once per month, and a stale bound is still right.
        guard lastAppliedTimestamp > 0, lastAppliedTimestamp >= noEvictionBeforeNs else { return nil }
        let current = UTCMonth(containing: lastAppliedTimestamp)
        noEvictionBeforeNs = current.next.startNs
        guard current.startNs > residentSinceNs else { return nil }
        let (fromNs, table) = (residentSinceNs, entries)
        let ids = evict(before: current.startNs)
        guard !ids.isEmpty else { return nil }
        return RetiredEntries(ids: ids, table: table, fromNs: fromNs, beforeNs: current.startNs)
    }

    /// Turns eviction on with the directory's rule (1 or 2 months).
    public mutating func evictOldEntries(windowMonths: Int) {
        precondition(windowMonths == 1 || windowMonths == 2, "resident window of \(windowMonths) months")
        precondition(!evictsOldEntries || windowMonths == residentWindowMonths, "the window's rule changes")
        evictsOldEntries = true
        residentWindowMonths = windowMonths
    }

    /// Evicts every record before `windowStartNs` without an open hold.
    public mutating func evict(before windowStartNs: UInt64) -> [UInt128] {
        precondition(evictsOldEntries && windowStartNs >= residentSinceNs, "window moves back from \(residentSinceNs) to \(windowStartNs)")
        residentSinceNs = windowStartNs
        return entries.removeAll { _, record in record.timestamp < windowStartNs && record.holdState != .open }
    }

    /// The ids of a batch (entry ids, and pending ids of settlements) that
    /// the resident window does not hold: the engine looks these up in the
    /// sealed months before `apply`. Call after `evictBeforeBatch`.
    public func coldCandidates(_ batch: UnsafeRawBufferPointer, eventCount: Int) -> [UInt128] {
        guard evictsOldEntries, entries.count > 0 || lastTimestamp > 0 else { return [] }
        var ids: [UInt128] = []
        ids.reserveCapacity(eventCount)
        EventBatchReader.forEach(batch, eventCount: eventCount) { offset, _ in
            guard batch[offset] == EventFormat.kindCreateEntry else { return }
            ids.append(_LE.u128(batch, offset + EventFormat.idOffset))
            let pendingID = _LE.u128(batch, offset + EventFormat.entryPendingIDOffset)
            if pendingID != 0 { ids.append(pendingID) }
        }
        // The table is too big for cache (a miss per id): probe with the
        // buckets of the ids `prefetchDistance` ahead already loading.
        let prefetchDistance = 8
        var cold: [UInt128] = []
        for i in ids.indices {
            if i + prefetchDistance < ids.count { entries.prefetch(ids[i + prefetchDistance]) }
            if !entries.contains(ids[i]) { cold.append(ids[i]) }
        }
        return cold
    }

    /// Sets the evicted records the next `apply` may need (found by the
    /// engine for `coldCandidates`); `apply` clears them.
    public mutating func setColdEntries(_ records: [UInt128: EntryRecord]) {
        coldEntries = records
    }

    /// An evicted entry's record as `coldEntries` holds it, from its
    /// resident record (RetiredEntries): the same record as
    /// `coldRecord(event:timestamp:)` makes from the entry's event (same
    /// fingerprint, timestamp and kind), or replay would disagree.
    static func coldRecord(evicted record: EntryRecord) -> EntryRecord {
        EntryRecord(
            fingerprint: record.fingerprint, timestamp: record.timestamp, kind: record.kind,
            holdState: record.kind == .pending ? .settledLongAgo : .notAHold)
    }

    /// An evicted entry's record as `coldEntries` holds it: a pending
    /// entry's hold was settled (it would be resident if open).
    public static func coldRecord(event: UnsafeRawBufferPointer, timestamp: UInt64) -> EntryRecord? {
        guard case .createEntry(let entry) = EventBatchReader.decode(event, at: 0) else { return nil }
        return EntryRecord(
            fingerprint: Fingerprint.of(event, offset: 0, count: event.count), timestamp: timestamp, kind: entry.kind,
            holdState: entry.kind == .pending ? .settledLongAgo : .notAHold)
    }
}

/// What one eviction of the one-month rule took out of memory: the entry
/// table as it was just before, and the span it covered. Every entry in
/// `[fromNs, beforeNs)` was resident until then, so a lookup of an id
/// evicted now is answered from here, without the month just sealed, whose
/// index may still be being written (SealedIndexWriter.swift); an id not
/// here is in a month before `fromNs`, sealed long ago. `EvictedEntries`
/// keeps it until filing has passed `beforeNs` and no index write is
/// pending.
struct RetiredEntries {
    let ids: [UInt128]
    let table: ShardedIDTable<EntryRecord>
    let fromNs: UInt64
    let beforeNs: UInt64

    /// The cold record of `id` if this eviction took it out.
    func record(_ id: UInt128) -> EntryRecord? {
        guard let record = table[id], record.timestamp >= fromNs, record.timestamp < beforeNs, record.holdState != .open else { return nil }
        return LedgerStateMachine.coldRecord(evicted: record)
    }
}
