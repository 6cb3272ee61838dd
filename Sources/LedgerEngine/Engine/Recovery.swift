// Recovery of the state from the files, shared by `Ledger.open` (which then
// repairs what it may and starts writing) and `LedgerReader` (read-only).
//
// Order: stray *.tmp files (deleted; listed when read-only) → the newest
// snapshot that loads (or, with none and a compacted WAL, the state rebuilt
// from the segments), while the segment filer opens beside it (sealed
// months from their seals, then the open month scanned) → WAL replay after
// the snapshot, each result checked against the log, beside the open
// month's scan → each group filed into the segments it is missing from,
// once they are ready (counted, not filed, when read-only;
// Engine/SegmentsOpening.swift) → the WAL must reach
// back to the snapshot → the segments must not hold more than the WAL
// (reconcile) → the recovered state must equal the segments' (cross-check).
// Nothing here writes except the deletion of temporaries, the re-filing and
// the truncation of a never-synced segment tail, and none of those when
// `readOnly`.

import Dispatch

extension Ledger {
    struct RecoveredState {
        var machine: LedgerStateMachine
        var chain: HashChain
        var segments: SegmentFiler
        var evicted: EvictedEntries
        var scan: WALScanResult
        var report: RecoveryReport
        var snapshotUsed: (lsn: UInt64, path: String)?
        /// Read-only: stray temporary files a read-write open would delete.
        var temporariesLeft: [String]
        /// Only with `segmentsBeyondWAL: .report`: the open month's segment
        /// holds synced records past the WAL's end (SegmentTailRestore).
        var segmentsBeyondWAL: (path: String, lastLSN: UInt64)? = nil
        /// The timeline records the WAL holds, in LSN order.
        var timelineRecords: [TimelineSwitch] = []
    }

    /// What recovery does when a segment holds synced records beyond the
    /// WAL: refuse (every open), or report it (`recover --from-segments`).
    enum SegmentsBeyondWAL { case refuse, report }

    // Long: one function, in the order above; splitting it would pass the same
    // eight values between the parts.
    static func recoverState(
        storage: any Storage, layout: DataDirectoryLayout, meta: DataDirectoryMeta, options: Options, readOnly: Bool,
        segmentsBeyondWAL: SegmentsBeyondWAL = .refuse
    ) throws -> RecoveredState {
        // Stray temporary files are half-made files from a crash: delete them
        // (a read-only open lists them instead).
        var temporariesLeft: [String] = []
        for directory in [layout.root, layout.segmentsDirectory, layout.snapshotsDirectory] where storage.fileExists(directory) {
            var removedTemporary = false
            for name in try storage.listDirectory(directory) where DataDirectoryLayout.isTemporary(name) {
                if readOnly {
                    // The preallocated next WAL file and kept WAL files are
                    // expected, not leftovers.
                    let path = directory + "/" + name
                    let expected =
                        path == layout.walNextTemporaryPath || path == layout.snapshotSparePath
                        || (directory == layout.root && DataDirectoryLayout.isWALSpare(name))
                    if !expected { temporariesLeft.append(directory + "/" + name) }
                    continue
                }
                try storage.removeFile(directory + "/" + name)
                removedTemporary = true
            }
            if removedTemporary { try storage.syncDirectory(directory) }
        }

        // The segments are opened (the open month re-read and re-indexed) on
        // a thread of their own while the snapshot loads and the WAL replays
        // (Engine/SegmentsOpening.swift). Joined on every path.
        let evicted = EvictedEntries(storage: storage, layout: layout, directoryID: meta.directoryID)
        let segmentsOpening = SegmentsOpening(
            storage: storage, layout: layout, directoryID: meta.directoryID, readOnly: readOnly, evicted: evicted, log: options.log)
        defer { _ = try? segmentsOpening.value() }
        // Start from the newest usable snapshot (falling back to the one
        // before it), then replay the WAL after it, re-filing into the
        // monthly segments whatever they lack.
        var machine = LedgerStateMachine()
        var report = RecoveryReport()
        var chain = HashChain(directoryID: meta.directoryID)
        var snapshotLSN: UInt64 = 0
        var snapshotUsed: (lsn: UInt64, path: String)?
        var storedFilter: EvictedIDFilter?
        let snapshotStartNs = DispatchTime.now().uptimeNanoseconds
        if let (header, restored, filter, path) = try SnapshotStore.loadNewest(
            storage: storage, layout: layout, directoryID: meta.directoryID, log: options.log)
        {
            machine = restored
            storedFilter = filter
            chain = HashChain(head: header.chainHead)
            snapshotLSN = header.lsn
            report.snapshotLSN = header.lsn
            snapshotUsed = (header.lsn, path)
            options.log("snapshot: recovering from \(path) (LSN \(header.lsn))")
        } else if try !SnapshotStore.list(storage: storage, layout: layout).isEmpty {
            // Snapshots exist but none loads: the WAL before them may be gone.
            options.log("snapshot: no snapshot is usable; replaying the WAL from its start")
        }
        report.snapshotLoadNs = DispatchTime.now().uptimeNanoseconds - snapshotStartNs
        // No usable snapshot and a compacted WAL: rebuild from the segments.
        var rebuiltFromSegments = false
        if report.snapshotLSN == 0, let walFirstLSN = try WALReader(storage: storage, layout: layout).walFiles().first?.firstLSN, walFirstLSN > 1 {
            // The rebuild reads the segments the filer may repair: after it.
            _ = try segmentsOpening.value()
            let rebuilt = try StateRebuild.fromSegments(storage: storage, layout: layout, meta: meta, walFirstLSN: walFirstLSN)
            guard rebuilt.lastLSN + 1 >= walFirstLSN else {
                throw LedgerError(
                    .corruption,
                    "no snapshot is usable, the WAL starts at LSN \(walFirstLSN), and the segments end at LSN \(rebuilt.lastLSN): the records between are gone; investigate with `ledgerctl verify`",
                    path: layout.root)
            }
            machine = rebuilt.machine
            snapshotLSN = rebuilt.lastLSN
            rebuiltFromSegments = true
            report.rebuiltFromSegments = true
            options.log(
                "recovery: no usable snapshot and the WAL starts at LSN \(walFirstLSN); rebuilt the state from the segments (\(rebuilt.events) events through LSN \(rebuilt.lastLSN)); the SHA-256 chain is re-anchored at the WAL, and checked from there on"
            )
        }
        // The replay files nothing while the open month is scanned, unless
        // the window of resident entries already starts past it.
        var openMonth = try segmentsOpening.openMonthBeingScanned()
        if let month = openMonth, rebuiltFromSegments || machine.residentSinceNs > month.startNs { openMonth = nil }
        var segmentsReady = openMonth == nil ? try segmentsOpening.value() : nil
        // Entry records older than the resident window are looked up in the
        // sealed months; the filter of evicted ids comes from the snapshot,
        // or is rebuilt from the sealed months when it stored none.
        machine.evictOldEntries(windowMonths: meta.residentWindowMonths)
        if let storedFilter {
            evicted.install(storedFilter)
            report.evictedFilterFromSnapshot = true
        } else {
            try evicted.rebuildFilter(before: machine.residentSinceNs)
        }
        var timelineRecords: [TimelineSwitch] = []
        var lastVisitedLSN: UInt64 = 0
        // The segments, once ready, with every record replayed so far filed.
        func segmentsCaughtUp() throws -> SegmentFiler {
            if let segmentsReady { return segmentsReady }
            let ready = try segmentsOpening.value()
            try SegmentsOpening.catchUp(ready, storage: storage, layout: layout, throughLSN: lastVisitedLSN)
            segmentsReady = ready
            return ready
        }
        // A record with an event past the open month may move the resident
        // window past it: from there on, file as the replay goes.
        func beforeRecord(_ record: WALRecord) throws {
            guard let month = openMonth, segmentsReady == nil, record.header.type == WALFormat.recordTypeGroup else { return }
            let last = SegmentsOpening.lastTimestamp(ofGroup: record.payload) ?? .max
            if last >= month.next.startNs { _ = try segmentsCaughtUp() }
        }
        func onRecord(_ record: WALRecord) throws {
            report.recordsReplayed += 1
            lastVisitedLSN = record.header.lsn
            if record.header.type == WALFormat.recordTypeGroup {
                try segmentsReady?.file(groupPayload: record.payload, lsn: record.header.lsn)
            } else if record.header.type == WALFormat.recordTypeTimeline {
                timelineRecords.append(try TimelineSwitch.check(record.payload, lsn: record.header.lsn, currentTimeline: nil, chainHead: nil))
            }
        }
        let replayStartNs = DispatchTime.now().uptimeNanoseconds
        let scan = try Self.replay(
            storage: storage, layout: layout, into: &machine, chain: &chain, afterLSN: snapshotLSN, anchorChain: rebuiltFromSegments, evicted: evicted,
            beforeRecord: beforeRecord, onRecord: onRecord)
        report.replayNs = DispatchTime.now().uptimeNanoseconds - replayStartNs
        let segments = try segmentsCaughtUp()
        report.openMonthIndexedNs = segmentsOpening.openMonthIndexedNs
        report.openMonthRecordsFromSavedIndex = segments.recordsFromSavedIndex
        segments.historyReadAhead = options.historyReadAhead
        guard scan.firstLSN <= snapshotLSN + 1 else {
            throw LedgerError(
                .corruption,
                "the WAL starts at LSN \(scan.firstLSN) but the newest usable snapshot is at LSN \(snapshotLSN): the records between are gone (a WAL file or a snapshot is missing or damaged); investigate with `ledgerctl verify`",
                path: layout.root)
        }
        guard scan.lastLSN >= snapshotLSN else {
            throw LedgerError(
                .corruption, "the snapshot at LSN \(snapshotLSN) is ahead of the WAL, which ends at LSN \(scan.lastLSN); investigate with `ledgerctl verify`",
                path: layout.root)
        }
        switch try segments.reconcile(walLastLSN: scan.lastLSN) {
        case .consistent:
            break
        case .syncedBeyondWAL(let path, let segmentLastLSN) where segmentsBeyondWAL == .report:
            return RecoveredState(
                machine: machine, chain: chain, segments: segments, evicted: evicted, scan: scan, report: report, snapshotUsed: snapshotUsed,
                temporariesLeft: temporariesLeft, segmentsBeyondWAL: (path, segmentLastLSN), timelineRecords: timelineRecords)
        case .syncedBeyondWAL(let path, let segmentLastLSN):
            throw LedgerError(
                .corruption,
                "\(path) holds synced records through LSN \(segmentLastLSN) but the WAL ends at LSN \(scan.lastLSN) in \(scan.lastFilePath): acknowledged groups are missing from the WAL (damaged or lost). Nothing was changed; investigate with `ledgerctl inspect wal` and `ledgerctl inspect segment`; `ledgerctl recover --from-segments` restores the groups from the segment",
                path: scan.lastFilePath)
        case .unsyncedTail(let path, let firstLSN) where readOnly:
            throw LedgerError(
                .corruption,
                "\(path) holds never-synced records from LSN \(firstLSN), beyond the WAL's end at LSN \(scan.lastLSN): the log does not hold them, and a read-only open cannot truncate them; a read-write open (the server, or any write through ledgerctl) does",
                path: path)
        case .unsyncedTail(let path, let firstLSN):
            options.log("segments: \(path) holds never-synced records from LSN \(firstLSN), beyond the WAL's end at LSN \(scan.lastLSN); truncating them")
            try segments.truncateOpenMonth(afterLSN: scan.lastLSN)
            throw ReopenAfterRepair()
        }
        // A read-only open that could not file what the segments lack has no
        // second derivation to compare with (it says so in its report).
        if segments.eventsNotFiled == 0 {
            try Self.crossCheck(machine, against: segments.state, snapshot: snapshotUsed, layout: layout)
        }
        return RecoveredState(
            machine: machine, chain: chain, segments: segments, evicted: evicted, scan: scan, report: report, snapshotUsed: snapshotUsed,
            temporariesLeft: temporariesLeft, timelineRecords: timelineRecords)
    }
}
