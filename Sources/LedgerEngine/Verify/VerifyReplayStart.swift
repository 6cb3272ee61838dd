// Where `verify`'s replay starts: every snapshot must load; the replay
// starts from the oldest one the WAL continues (or from nothing while the
// WAL starts at LSN 1), and every later snapshot must equal the replayed
// state at its LSN (VerifyWALReplay.swift). With no snapshot reaching a
// compacted WAL, the state is rebuilt from the segments, as recovery does
// (StateRebuild), and the report says so.

/// The state the WAL replay starts from.
struct VerifyReplayStart {
    var machine = LedgerStateMachine()
    var chain: HashChain
    /// False when the chain head is taken from the first WAL record on
    /// (the state was rebuilt from the segments, with no chain value).
    var chainAnchored = true
    var rebuiltFromSegments = false
    /// Every snapshot that loaded, to compare with the replay at its LSN.
    var snapshots: [(lsn: UInt64, path: String, machine: LedgerStateMachine)] = []
    /// The filters of evicted ids the snapshots stored, checked against the
    /// sealed months (`checkStoredFilters`).
    var storedFilters: [(path: String, machine: LedgerStateMachine, filter: EvictedIDFilter)] = []
    /// Records up to this LSN are in `machine` already.
    var lsn: UInt64 = 0

    /// Nil when no start exists (reported).
    /// `walFirstLSN`: the first LSN the WAL's file names give (1 without a
    /// file). The start is at or after the record before it.
    static func choose(
        storage: any Storage, layout: DataDirectoryLayout, meta: DataDirectoryMeta, walFirstLSN: UInt64, report: inout VerifyReport
    ) throws -> VerifyReplayStart? {
        var start = VerifyReplayStart(chain: HashChain(directoryID: meta.directoryID))
        for (_, path) in try SnapshotStore.list(storage: storage, layout: layout) {
            report.snapshotFiles += 1
            do {
                let (header, restored, filter) = try SnapshotStore.load(path: path, storage: storage, directoryID: meta.directoryID)
                start.snapshots.append((header.lsn, path, restored))
                if let filter { start.storedFilters.append((path, restored, filter)) }
                if walFirstLSN > 1 && header.lsn + 1 >= walFirstLSN && start.lsn == 0 {
                    start.machine = restored
                    start.chain = HashChain(head: header.chainHead)
                    start.lsn = header.lsn
                }
            } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
                report.problems.append(
                    .init(severity: .error, file: error.path ?? path, offset: error.offset, kind: "snapshot corruption", message: error.message))
            }
        }
        if walFirstLSN > 1 && start.lsn == 0 {
            guard try start.rebuildFromSegments(storage: storage, layout: layout, meta: meta, walFirstLSN: walFirstLSN, report: &report) else { return nil }
        }
        report.replayStartLSN = start.lsn
        return start
    }

    private mutating func rebuildFromSegments(
        storage: any Storage, layout: DataDirectoryLayout, meta: DataDirectoryMeta, walFirstLSN: UInt64, report: inout VerifyReport
    ) throws -> Bool {
        let rebuilt: (machine: LedgerStateMachine, lastLSN: UInt64, events: Int)
        do {
            rebuilt = try StateRebuild.fromSegments(storage: storage, layout: layout, meta: meta, walFirstLSN: walFirstLSN)
        } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
            report.problems.append(
                .init(severity: .error, file: error.path ?? layout.segmentsDirectory, offset: error.offset, kind: "segment corruption", message: error.message))
            return false
        }
        guard rebuilt.lastLSN + 1 >= walFirstLSN else {
            report.problems.append(
                .init(
                    severity: .error, file: layout.root, offset: nil, kind: "history missing",
                    message:
                        "the WAL starts at LSN \(walFirstLSN), no usable snapshot reaches it, and the segments end at LSN \(rebuilt.lastLSN), so the state cannot be rebuilt"
                ))
            return false
        }
        machine = rebuilt.machine
        lsn = rebuilt.lastLSN
        chainAnchored = false
        rebuiltFromSegments = true
        report.problems.append(
            .init(
                severity: .warning, file: layout.root, offset: nil, kind: "state rebuilt from segments",
                message:
                    "no usable snapshot reaches the WAL (which starts at LSN \(walFirstLSN)); the state was rebuilt from the segments through LSN \(rebuilt.lastLSN), and the SHA-256 chain is checked from the WAL's records on"
            ))
        return true
    }

    /// Ids evicted from the resident window are looked up in the sealed
    /// months on disk, as the engine does (their damage, if any, is reported
    /// by the segment half). Nil when the sealed months cannot be read
    /// (reported).
    mutating func evictedEntries(storage: any Storage, layout: DataDirectoryLayout, meta: DataDirectoryMeta, report: inout VerifyReport) throws
        -> EvictedEntries?
    {
        let directoryID = meta.directoryID
        let evicted = EvictedEntries(storage: storage, layout: layout, directoryID: directoryID)
        for (month, form) in try SegmentFiles.months(storage: storage, layout: layout) {
            guard let file = try? SegmentFiles.openForReading(month, form: form, storage: storage, layout: layout, directoryID: directoryID) else { continue }
            defer { file.close() }
            if let seal = try? SegmentReader.readSeal(file: file, expectedDirectoryID: directoryID) {
                evicted.register(SealedMonth(month: month, monthRoot: seal.monthRoot, lastLSN: seal.lastLSN, lastTimestamp: seal.lastTimestamp, form: form))
            }
        }
        evicted.filed(throughNs: .max)
        machine.evictOldEntries(windowMonths: meta.residentWindowMonths)
        do {
            try evicted.rebuildFilter(before: machine.residentSinceNs)
            try checkStoredFilters(evicted, report: &report)
        } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
            report.problems.append(
                .init(severity: .error, file: error.path ?? layout.segmentsDirectory, offset: error.offset, kind: "segment corruption", message: error.message))
            return nil
        }
        return evicted
    }

    /// Every id of the sealed months a snapshot's state evicted must be in
    /// the filter that snapshot stored: recovery uses it instead of the
    /// sealed months' id tables, and a missing id would let a duplicate
    /// through. (One pass over those months' ids per stored filter.)
    private func checkStoredFilters(_ evicted: EvictedEntries, report: inout VerifyReport) throws {
        for (path, machine, filter) in storedFilters {
            guard
                let (id, month) = try evicted.firstIDMissing(
                    from: filter, before: machine.residentSinceNs, isResident: { machine.entries.contains($0) })
            else { continue }
            report.problems.append(
                .init(
                    severity: .error, file: path, offset: nil, kind: "snapshot corruption",
                    message:
                        "the snapshot's filter of evicted ids lacks entry \(id) of \(month), which its state evicted: recovery from it would accept that id again"
                ))
        }
    }
}
