// Opening a data directory for writing.
//
// Crash-safe order: lock → meta → recovery (Recovery.swift: temporaries,
// snapshot, WAL replay with every result checked, segments reconciled and
// re-filed) → segments synced → torn WAL tail truncated (it was never
// acknowledged) → balance index reconciled with the replayed state or
// rebuilt, then checkpointed at the last LSN → the threads start. Every step
// before the index checkpoint may repeat after a crash: each one rewrites
// only what the log determines.

extension Ledger {
    /// Opens and recovers the data directory at `path`.
    public static func open(at path: String, storage: any Storage = POSIXStorage(), options: Options = Options()) throws -> Ledger {
        let layout = DataDirectoryLayout(root: path)
        guard storage.fileExists(layout.root) else {
            throw LedgerError(.notInitialized, "data directory does not exist; `ledgerctl init` creates one", path: layout.root)
        }
        // Before the lock: a directory that is no ledger gets no LOCK file.
        guard storage.fileExists(layout.metaPath) else { throw try DataDirectoryMeta.missingError(storage: storage, layout: layout) }
        let lock = try storage.lockFile(layout.lockPath)
        do {
            do {
                return try Ledger(opened: recoverForWriting(storage: storage, layout: layout, options: options), lock: lock)
            } catch is ReopenAfterRepair {
                // The repair made the files consistent; recover again from them
                // (a second repair of the same kind would be a bug).
                return try Ledger(opened: recoverForWriting(storage: storage, layout: layout, options: options), lock: lock)
            }
        } catch let error as LedgerError {
            lock.release()
            throw error.withInvestigationHint()
        } catch {
            lock.release()
            throw error
        }
    }

    /// Thrown by recovery after a repair that invalidates what it has built
    /// in memory (truncating a segment's unsynced tail): open starts over.
    struct ReopenAfterRepair: Error {}

    /// Everything a writable `Ledger` starts from.
    struct Opened {
        var storage: any Storage
        var layout: DataDirectoryLayout
        var options: Options
        var meta: DataDirectoryMeta
        var machine: LedgerStateMachine
        var wal: WALWriter
        var index: BalanceIndex
        var segments: SegmentFiler
        var evicted: EvictedEntries
        var chain: HashChain
        var report: RecoveryReport
        var slots: [ReplicationSlot]
        var timelines: TimelineHistory
        var role: Role
    }

    /// Nanoseconds as seconds with two decimals, for log lines.
    static func seconds(_ ns: UInt64) -> String {
        let centiseconds = (ns + 5_000_000) / 10_000_000
        return "\(centiseconds / 100).\(centiseconds % 100 < 10 ? "0" : "")\(centiseconds % 100)"
    }

    /// Recovers the state and brings every file in line with it (the crash-safe
    /// order above), without starting any thread.
    static func recoverForWriting(storage: any Storage, layout: DataDirectoryLayout, options: Options) throws -> Opened {
        let meta = try DataDirectoryMeta.read(storage: storage, layout: layout)
        var recovered = try recoverState(storage: storage, layout: layout, meta: meta, options: options, readOnly: false)
        var machine = recovered.machine
        recovered.machine = LedgerStateMachine()  // one copy of the state, not two
        var report = recovered.report
        let scan = recovered.scan
        let segments = recovered.segments
        report.eventsRefiled = segments.eventsFiled
        if segments.eventsFiled > 0 { options.log("segments: re-filed \(segments.eventsFiled) events from the WAL") }
        options.log(
            "recovery: snapshot loaded in \(Self.seconds(report.snapshotLoadNs)) s, \(report.recordsReplayed) WAL records replayed in \(Self.seconds(report.replayNs)) s; beside them, the open month's segment scanned and indexed in \(Self.seconds(report.openMonthIndexedNs)) s (\(report.openMonthRecordsFromSavedIndex) records from the index saved at the last clean close)"
        )
        try segments.sync()
        // Months the replay sealed have their indexes written beside it
        // (SealedIndexWriter.swift): the engine starts with all of them.
        try segments.awaitIndexWrites()
        report.lastLSN = scan.lastLSN
        report.cleanShutdown = scan.endsWithClose
        if let torn = scan.tornTailOffset {
            report.tornTailTruncatedAt = (scan.lastFilePath, torn)
            options.log("WAL: truncating a torn, never-acknowledged tail in \(scan.lastFilePath) at offset \(torn)")
        }
        let wal = try WALWriter(storage: storage, layout: layout, scan: scan)
        let index = try reconcileIndex(
            with: &machine, storage: storage, layout: layout, meta: meta, lastLSN: scan.lastLSN, snapshotUsed: recovered.snapshotUsed,
            options: options, report: &report)
        return Opened(
            storage: storage, layout: layout, options: options, meta: meta, machine: machine, wal: wal, index: index, segments: segments,
            evicted: recovered.evicted, chain: recovered.chain, report: report, slots: try ReplicationSlotsFile.read(storage: storage, layout: layout),
            timelines: try reconcileTimelines(storage: storage, layout: layout, recovered: recovered, readOnly: false, options: options),
            role: try role(storage: storage, layout: layout))
    }

    /// The timeline history checked against the log's timeline records; a
    /// row a crash left out (the record is durable before the file is
    /// written) is added, and written unless `readOnly`.
    static func reconcileTimelines(
        storage: any Storage, layout: DataDirectoryLayout, recovered: RecoveredState, readOnly: Bool, options: Options
    ) throws -> TimelineHistory {
        var history = try TimelineHistoryFile.read(storage: storage, layout: layout)
        let added = try history.reconcile(
            with: recovered.timelineRecords, walFirstLSN: recovered.scan.firstLSN, walLastLSN: recovered.scan.lastLSN, path: layout.timelineHistoryPath)
        if added && !readOnly {
            options.log("timelines: adding timeline \(history.current) from the WAL to \(layout.timelineHistoryPath)")
            try TimelineHistoryFile.write(history, storage: storage, layout: layout)
        }
        return history
    }

    /// Makes the balance index equal the replayed state at `lastLSN`: keeps
    /// it, rewriting stale slots, or rebuilds it; then checkpoints it.
    private static func reconcileIndex(
        with machine: inout LedgerStateMachine, storage: any Storage, layout: DataDirectoryLayout, meta: DataDirectoryMeta, lastLSN: UInt64,
        snapshotUsed: (lsn: UInt64, path: String)?, options: Options, report: inout RecoveryReport
    ) throws -> BalanceIndex {
        var index: BalanceIndex
        switch try BalanceIndex.open(storage: storage, layout: layout, directoryID: meta.directoryID, walLastLSN: lastLSN) {
        case .valid(let existing):
            index = existing
        case .mustRebuild(let reason):
            report.indexRebuildReason = reason
            options.log("index: rebuilding from the log (\(reason))")
            var capacity = BalanceIndexFormat.initialSlotCapacity
            while capacity < machine.accountCount { capacity *= 2 }
            index = try BalanceIndex.create(storage: storage, layout: layout, directoryID: meta.directoryID, slotCapacity: capacity)
        }
        if index.accountCount > machine.accountCount {
            report.indexRebuildReason = "index holds \(index.accountCount) accounts, the log \(machine.accountCount)"
            options.log("index: rebuilding from the log (\(report.indexRebuildReason!))")
            index = try BalanceIndex.create(storage: storage, layout: layout, directoryID: meta.directoryID, slotCapacity: index.slotCapacity)
        }
        for (slot, account) in machine.accounts.enumerated() {
            if slot < index.accountCount, let (stored, _) = index.readSlot(slot), stored == account { continue }
            try index.write(account, slot: slot, lsn: lastLSN)
            report.indexSlotsRepaired += 1
        }
        if report.indexSlotsRepaired > 0 && report.indexRebuildReason == nil {
            let source = snapshotUsed.map { "the snapshot at LSN \($0.lsn) plus the WAL, cross-checked with the segments" } ?? "the WAL"
            options.log("index: \(report.indexSlotsRepaired) stale slots rewritten from the state recovered from \(source)")
        }
        _ = machine.takeChangedSlots()
        try index.checkpoint(lsn: lastLSN)
        return index
    }
}
