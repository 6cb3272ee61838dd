// Snapshots and WAL compaction, explicit (`snapshot()`) or automatic (the
// snapshot thread, woken by the pipeline every `snapshotIntervalWALBytes`).
//
// Crash-safe order: segments synced, or (automatic snapshots) their durable
// frontier read (they must cover what compaction deletes) → state captured
// between groups (an automatic snapshot while batches wait does not wait for
// the groups in flight, but then waits for the last group the state holds to
// be durable: SnapshotCapture.swift) → snapshot written (tmp, fsync,
// rename, fsync dir; SnapshotStore.swift) → older snapshots pruned → WAL
// files covered by the oldest retained snapshot and by the synced segments
// deleted, then the directory synced. A crash anywhere leaves a snapshot
// and the WAL after it, or the previous snapshot and the WAL after that.

extension Ledger {
    /// Whether a snapshot syncs the open month's segment (see `snapshot`).
    public enum SegmentSync: Sendable { case always, never, whenNoBatchWaits }

    /// What `snapshot()` did.
    public struct SnapshotResult: Sendable {
        public var lsn: UInt64
        public var path: String
        public var walFilesDeleted: Int
    }

    /// Snapshots the durable state, keeps the newest `SnapshotFormat.retained`
    /// snapshots, and deletes every WAL file whose records are all covered by
    /// the oldest retained snapshot and by synced segments (so recovery from
    /// either retained snapshot, and re-filing the segments, still find
    /// every record they need). The state is captured on the apply thread
    /// between groups as a copy-on-write value; it is written on the calling
    /// thread while the engine keeps committing. A sync failure stops the
    /// engine (crash-stop).
    ///
    /// `syncingSegments`: sync the open month's segment during the capture,
    /// so compaction may delete every WAL file the snapshot covers. The
    /// automatic snapshots pass `.whenNoBatchWaits`: that fdatasync ran on the apply
    /// thread and stalled every request behind it (134 ms at batch 8,189,
    /// Benchmarks/RESULTS.md, issue 13). While batches wait they compact only
    /// up to what the segments already hold durably (`durableFiledLSN`,
    /// synced every `indexCheckpointGroups` groups), and a later snapshot
    /// deletes the rest; with none waiting they sync as explicit ones do.
    @discardableResult
    public func snapshot(syncingSegments: SegmentSync = .always) throws -> SnapshotResult {
        try snapshotLock.withLock {
            defer { snapshotHoldsEntries.withLock { $0 = false } }
            // With batches waiting or groups in flight, an automatic snapshot
            // does not wait for the groups in flight, nor make the next
            // batch wait for them (SnapshotCapture.swift).
            let busy = syncingSegments == .whenNoBatchWaits && lock.withLock { pipeline.queuedCount > 0 || pipeline.groupsInFlight > 0 }
            let state = busy ? try captureAtNextGap() : try captureDurable(syncingSegments: syncingSegments)
            do {
                let (path, bytes) = try SnapshotStore.write(
                    state.machine, filter: state.filter, lsn: state.lsn, chainHead: state.chainHead, directoryID: meta.directoryID,
                    storage: storage, layout: layout)
                lock.withLock { pipeline.snapshotWritten(bytes: bytes) }
                try SnapshotStore.prune(storage: storage, layout: layout, keepingSpare: true)
                // WAL stays from the older retained snapshot on, so a damaged
                // newest snapshot can fall back to it; with one snapshot, all stays.
                let retained = try SnapshotStore.list(storage: storage, layout: layout)
                let fallbackLSN = retained.count >= SnapshotFormat.retained ? retained[retained.count - SnapshotFormat.retained].lsn : 0
                let deleted = try compactWAL(through: try slotsCompactionLimit(through: min(fallbackLSN, state.filedLSN)))
                options.log("snapshot: wrote \(path) (LSN \(state.lsn)\(state.capturedHow)); deleted \(deleted) WAL files")
                return SnapshotResult(lsn: state.lsn, path: path, walFilesDeleted: deleted)
            } catch let error as LedgerError where error.code == .syncFailed || error.code == .io || error.code == .noSpace {
                stop(because: error, failing: [])
                throw error
            }
        }
    }

    /// What a snapshot writes: the state after the group at `lsn`, and what
    /// the segments durably hold (compaction never deletes past it).
    private struct CapturedState {
        var machine: LedgerStateMachine
        var filter: EvictedIDFilter?
        var lsn: UInt64
        var chainHead: [UInt8]
        var filedLSN: UInt64
        /// For the log line: how the capture found its place.
        var capturedHow = ""
    }

    /// The state as a read: once no group is in flight, so it is durable.
    private func captureDurable(syncingSegments: SegmentSync) throws -> CapturedState {
        try readSegments { segments in
            // The segments must durably cover what compaction deletes.
            // With no batch waiting, the sync delays nobody.
            let syncing =
                switch syncingSegments {
                case .always: true
                case .never: false
                case .whenNoBatchWaits: self.lock.withLock { self.pipeline.queuedCount == 0 }
                }
            if syncing { try segments.sync() }
            let filedLSN = syncing ? segments.lastFiledLSN : segments.durableFiledLSN
            return self.captureAtWALHead(filedLSN: filedLSN)
        }
    }

    /// On the apply thread holding the durable side: the state, ending at
    /// the WAL's head. The filter is captured with the state: it holds every
    /// id this state evicted (the apply thread adds them before it applies
    /// the batch that evicts them).
    private func captureAtWALHead(filedLSN: UInt64) -> CapturedState {
        CapturedState(
            machine: captureMachine(), filter: evicted.capturedFilter(), lsn: wal.nextLSN - 1, chainHead: chain.head, filedLSN: filedLSN)
    }

    /// The state at the next gap between groups, without waiting for the
    /// groups in flight; returned once the last group it holds is durable.
    private func captureAtNextGap() throws -> CapturedState {
        let (captured, awaitsGroup) = try onApplyThread(atNextGap: true) { () -> (CapturedState, Bool) in
            let inFlight = self.lock.withLock { self.pipeline.groupsInFlight }
            guard inFlight > 0 else {
                // Nothing in flight: the durable side is this thread's, and
                // the WAL's head is where the state ends.
                var state = self.captureAtWALHead(filedLSN: self.segments.durableFiledLSN)
                state.capturedHow = ", captured between groups"
                return (state, false)
            }
            // LSN, chain value and filed LSN come once the group is durable.
            var state = CapturedState(
                machine: self.captureMachine(), filter: self.evicted.capturedFilter(), lsn: 0, chainHead: [], filedLSN: 0)
            self.capture.expect(group: self.groupsEncoded)
            state.capturedHow = ", captured between groups with \(inFlight) in flight"
            return (state, true)
        }
        guard awaitsGroup else { return captured }
        var state = captured
        (state.lsn, state.chainHead) = try capture.awaitDurable()
        state.filedLSN = durableFiledLSN.withLock { $0 }
        return state
    }

    /// On the apply thread: a copy of the state machine for a snapshot or
    /// an online verify (both hold `snapshotLock`, so one at a time; the
    /// holder clears `snapshotHoldsEntries` when done). The live entry
    /// table is then overlaid, so the groups applied while the
    /// snapshot is written do not copy the shards the copy shares.
    func captureMachine() -> LedgerStateMachine {
        let captured = machine
        machine.entries.overlayAll()
        snapshotHoldsEntries.withLock { $0 = true }
        return captured
    }

    /// On the apply thread, before each group: once no snapshot holds the
    /// shards, folds some of the overlays back (in place, no copy), at most
    /// about a large batch's worth, so no one group pays for the whole merge.
    func mergeEntryOverlayStep() {
        guard machine.entries.isOverlaid, !snapshotHoldsEntries.withLock({ $0 }) else { return }
        _ = machine.entries.mergeOverlay(entriesMax: Limits.batchEventsMax)
    }

    /// Deletes WAL files (never the last) whose records all have LSN ≤
    /// `lsn`; with an archive, each only once it is archived (a failure
    /// holds compaction back there: logged and counted).
    private func compactWAL(through lsn: UInt64) throws -> Int {
        let files = try WALReader(storage: storage, layout: layout).walFiles()
        var deleted = 0
        for i in 0..<max(0, files.count - 1) where files[i + 1].firstLSN - 1 <= lsn {
            if let archive = options.archiveWALTo.map({ WALArchive(storage: storage, directory: $0) }) {
                do {
                    try archive.archive(files[i].path, name: String(files[i].path.split(separator: "/").last!))
                    archiveCounts.withLock { $0.archived += 1 }
                } catch {
                    archiveCounts.withLock { $0.failures += 1 }
                    options.log("WAL archive: \(error); compaction is held back at \(files[i].path) until archiving succeeds")
                    break
                }
            }
            // Kept for the next WAL file when there is room (WALFilePreparer).
            try wal.preparer.retire(files[i].path)
            CrashPoints.reached("compaction.walFileDeleted")
            deleted += 1
        }
        if deleted > 0 { try storage.syncDirectory(layout.root) }
        return deleted
    }

    /// Snapshot thread: takes a snapshot whenever the pipeline says one is
    /// due; exits at close or stop.
    func snapshotLoop() {
        while awaitPipeline({ $0.nextSnapshot() }) == .take {
            do {
                try snapshot(syncingSegments: .whenNoBatchWaits)
            } catch {
                options.log("snapshot: failed: \(error)")
                if stopReason != nil { return }
            }
        }
    }
}
