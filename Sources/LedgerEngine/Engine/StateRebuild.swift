// The last resort of recovery: when no snapshot is usable and the WAL no
// longer starts at LSN 1 (it was compacted), the state is rebuilt from the
// monthly segments, which hold every applied event with its timestamp and
// LSN. Replaying them in order through the state machine, one event at a
// time with its own timestamp, gives the state after the last filed group:
// rejected events changed nothing, and hold expiries are events like any
// other. The WAL after that LSN is then replayed as usual.
//
// The SHA-256 chain cannot be checked across the gap (its value before the
// first WAL record lived in the deleted records and the snapshots), so it is
// re-anchored at the last record the segments cover, or at the first WAL
// record, with a log line; every later link is checked.

enum StateRebuild {
    /// The state machine after every complete group in the segments, and
    /// the LSN through which it holds every group.
    ///
    /// A group's events are filed in order but may straddle a month (the old
    /// month is sealed mid-group) or be cut by a crash, so the events of the
    /// last LSN found are applied only when that group cannot be in the WAL
    /// any more (`walFirstLSN` is after it: compaction deleted it only after
    /// the segments held it whole and were synced). Otherwise they are left
    /// to the WAL replay.
    static func fromSegments(
        storage: any Storage, layout: DataDirectoryLayout, meta: DataDirectoryMeta, walFirstLSN: UInt64
    ) throws -> (machine: LedgerStateMachine, lastLSN: UInt64, events: Int) {
        let directoryID = meta.directoryID
        var machine = LedgerStateMachine()
        // Evicting as the engine did keeps the rebuild's memory bounded too;
        // the events in the segments all succeeded, so none needs a lookup.
        // An LSN is a group: the one-month rule evicts as each starts (a
        // group no event of which succeeded is not in the segments; its
        // eviction happens at the next group, or the WAL's first).
        machine.evictOldEntries(windowMonths: meta.residentWindowMonths)
        var results: [ResultCode] = []
        var events = 0
        // The events of the LSN being read, applied once a later LSN shows up.
        var heldLSN: UInt64 = 0
        var held: [(event: [UInt8], timestamp: UInt64, path: String, offset: Int)] = []
        var completeThroughLSN: UInt64 = 0

        func applyHeld() throws {
            _ = machine.evictAtGroupStart()
            for item in held {
                results.removeAll(keepingCapacity: true)
                _ = machine.evictBeforeBatch(endingAt: item.timestamp)
                item.event.withUnsafeBytes { machine.apply($0, eventCount: 1, timestamp: item.timestamp, results: &results) }
                guard results == [.ok] else {
                    throw LedgerError(
                        .corruption, "a filed event does not apply to the state the segments before it build (\(results)); investigate with `ledgerctl verify`",
                        path: item.path, offset: item.offset)
                }
                events += 1
            }
            held.removeAll(keepingCapacity: true)
            completeThroughLSN = heldLSN
        }

        var lastTimestamp: UInt64 = 0
        for (month, form) in try SegmentFiles.months(storage: storage, layout: layout) {
            let file = try SegmentFiles.openForReading(month, form: form, storage: storage, layout: layout, directoryID: directoryID)
            defer { file.close() }
            _ = try SegmentReader.scan(file: file, expectedDirectoryID: directoryID) { record in
                guard record.header.timestamp > lastTimestamp, record.header.lsn >= heldLSN else {
                    throw LedgerError(
                        .corruption, "segment events go back in time; investigate with `ledgerctl verify`", path: file.path, offset: record.offset)
                }
                lastTimestamp = record.header.timestamp
                if record.header.lsn != heldLSN {
                    try applyHeld()
                    heldLSN = record.header.lsn
                }
                held.append((Array(record.event), record.header.timestamp, file.path, record.offset))
            }
        }
        if !held.isEmpty && walFirstLSN > heldLSN { try applyHeld() }
        // Groups between the last complete one and the WAL changed nothing
        // (no applied event was filed for them) if the WAL starts right after.
        return (machine, completeThroughLSN, events)
    }
}
