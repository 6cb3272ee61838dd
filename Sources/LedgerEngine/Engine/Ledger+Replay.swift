// Replaying the log through the state machine: recovery, `verify` and the
// tail restore all apply a WAL record the same way, checking each event's
// result against the one the log recorded and the SHA-256 chain link.

extension Ledger {
    /// Replays every WAL record into `machine` for recovery, checking each
    /// recorded result; the first mismatch is corruption (refuse to open).
    /// `beforeRecord` sees each record before it is replayed, `onRecord`
    /// after.
    /// With `anchorChain` (a rebuild from segments, no snapshot), the chain
    /// head is taken from the records up to `afterLSN`, or from the first
    /// record after it, instead of being known in advance.
    static func replay(
        storage: any Storage, layout: DataDirectoryLayout, into machine: inout LedgerStateMachine, chain: inout HashChain,
        afterLSN: UInt64 = 0, anchorChain: Bool = false, evicted: EvictedEntries?, beforeRecord: (WALRecord) throws -> Void = { _ in },
        onRecord: (WALRecord) throws -> Void
    ) throws -> WALScanResult {
        var results: [ResultCode] = []
        var anchored = !anchorChain
        return try WALReader(storage: storage, layout: layout).scan(mode: .recover) { record in
            try beforeRecord(record)
            // Records up to the snapshot are already in `machine` (they are
            // still offered to `onRecord`: the segments may lag behind).
            guard record.header.lsn > afterLSN else {
                do {
                    if record.header.type == WALFormat.recordTypeGroup {
                        try WALGroupPayload.forEachBatch(record.payload) { _ in }
                        // The snapshot is bound to the log: the chain head it
                        // recorded must be the one of the WAL record at its LSN.
                        if !anchorChain && afterLSN > 0 && record.header.lsn == afterLSN && WALGroupPayload.chainHash(record.payload) != chain.head {
                            throw LedgerError(
                                .corruption,
                                "the snapshot at LSN \(afterLSN) records a SHA-256 chain head that differs from the WAL record at that LSN: the snapshot does not describe this log"
                            )
                        }
                        if anchorChain {
                            chain = HashChain(head: WALGroupPayload.chainHash(record.payload))
                            anchored = true
                        }
                    }
                } catch let error as LedgerError {
                    throw LedgerError(.corruption, "\(error.message); investigate with `ledgerctl verify`", path: record.path, offset: record.offset)
                }
                try onRecord(record)
                return
            }
            do {
                try replayRecord(record, into: &machine, chain: &chain, results: &results, checkChainLink: anchored, evicted: evicted)
                anchored = true
            } catch let error as LedgerError {
                // An error that names a file of its own (a sealed month a
                // lookup read) keeps its name and code.
                let advice = error.message.contains("`ledgerctl ") ? "" : "; investigate with `ledgerctl verify`"
                throw LedgerError(
                    error.code, error.message + advice, path: error.path ?? record.path, offset: error.path == nil ? record.offset : error.offset)
            }
            try onRecord(record)  // after replay validated the record's structure
        }
    }

    /// Applies one WAL record's batches to `machine` and checks that each
    /// event's result equals the one recorded in the log. Shared by recovery
    /// and `verify`. Throws `corruption` (without a location) on a mismatch.
    static func replayRecord(
        _ record: WALRecord, into machine: inout LedgerStateMachine, chain: inout HashChain, results: inout [ResultCode], checkChainLink: Bool = true,
        evicted: EvictedEntries?
    ) throws {
        if record.header.type == WALFormat.recordTypeTimeline {
            // Not chained: it carries the chain value at its fork point.
            _ = try TimelineSwitch.check(record.payload, lsn: record.header.lsn, currentTimeline: nil, chainHead: checkChainLink ? chain.head : nil)
            return
        }
        guard record.header.type == WALFormat.recordTypeGroup else { return }
        guard record.payload.count >= WALFormat.groupHeaderBytes else {
            throw LedgerError(.corruption, "record LSN \(record.header.lsn): group payload shorter than its header")
        }
        // The CRC only says the bytes are as written; the chain says they are
        // the bytes that were committed, in this order.
        let expected = checkChainLink ? chain.next(lsn: record.header.lsn, payload: record.payload) : WALGroupPayload.chainHash(record.payload)
        guard WALGroupPayload.chainHash(record.payload) == expected else {
            throw LedgerError(
                .corruption,
                "record LSN \(record.header.lsn): SHA-256 chain broken (the record's checksum is valid, so it was altered after it was written, or a record before it was)"
            )
        }
        chain.advance(to: expected)
        do {
            try evictAtGroupStart(&machine, evicted: evicted)
            try WALGroupPayload.forEachBatch(record.payload) { batch in
                guard batch.timestamp > machine.lastTimestamp else {
                    throw LedgerError(.corruption, "batch timestamp \(batch.timestamp) is not after \(machine.lastTimestamp)")
                }
                results.removeAll(keepingCapacity: true)
                try prepareColdEntries(&machine, evicted: evicted, batch: batch.events, eventCount: batch.eventCount, timestamp: batch.timestamp)
                machine.apply(batch.events, eventCount: batch.eventCount, timestamp: batch.timestamp, results: &results)
                for (index, result) in results.enumerated() where batch.results[index] != result.rawValue {
                    throw LedgerError(.corruption, "replay of event \(index) gives \(result) but the log recorded result code \(batch.results[index])")
                }
            }
        } catch let error as LedgerError {
            // The record's own faults are corruption of the log; a lookup's
            // (a sealed month damaged, missing or unreadable) names its file.
            throw LedgerError(
                error.path == nil ? .corruption : error.code, "record LSN \(record.header.lsn): \(error.message)", path: error.path, offset: error.offset)
        }
    }

    /// Before a group's first batch is applied: evicts what leaves a
    /// one-month resident window (ResidentWindow.swift). Shared by the apply
    /// thread and every replay of WAL records.
    static func evictAtGroupStart(_ machine: inout LedgerStateMachine, evicted: EvictedEntries?) throws {
        guard machine.evictsOldEntries else { return }
        guard let evicted else { preconditionFailure("a machine that evicts needs its evicted entries") }
        guard let retired = machine.evictAtGroupStartRetiring() else { return }
        try evicted.addEvicted(retired.ids, retiring: retired, windowStartNs: machine.residentSinceNs)
    }

    /// Before a batch is applied: evicts what leaves the state machine's
    /// resident window and looks up the batch's ids the window no longer
    /// holds in the sealed months (ResidentWindow.swift). Shared by the
    /// apply thread, recovery and `verify`, so all apply the same way.
    static func prepareColdEntries(
        _ machine: inout LedgerStateMachine, evicted: EvictedEntries?, batch: UnsafeRawBufferPointer, eventCount: Int, timestamp: UInt64
    ) throws {
        guard machine.evictsOldEntries else { return }
        guard let evicted else { preconditionFailure("a machine that evicts needs its evicted entries") }
        let ids = machine.evictBeforeBatch(endingAt: timestamp + UInt64(eventCount - 1))
        try evicted.addEvicted(ids, windowStartNs: machine.residentSinceNs)
        // Nothing evicted yet (a directory in its first month): no id can be
        // cold, and probing every id of the batch would cost ~9% at 1 ×
        // 8,189 (Benchmarks/RESULTS.md, session 15).
        guard machine.residentSinceNs > 0, evicted.filteredIDCount > 0 else { return }
        let candidates = machine.coldCandidates(batch, eventCount: eventCount)
        guard !candidates.isEmpty else { return }
        let found = try evicted.lookup(candidates, windowStartNs: machine.residentSinceNs)
        if !found.isEmpty { machine.setColdEntries(found) }
    }
}
