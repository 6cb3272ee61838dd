// `verify`: read-only checking of a whole data directory. Nothing is
// written; repairs are an explicit operator act (opening the directory runs
// recovery). The checks, one file each in this folder:
//
// 1. VerifyReplayStart.swift: every snapshot loads; the replay starts from
//    the oldest one the WAL continues, or from the segments.
// 2. VerifyWALReplay.swift: every WAL checksum (continuing past errors), the
//    chain, the torn-tail classification; every batch replayed, each result
//    compared with the log; every later snapshot compared with the replay;
//    `timeline-history` against the log's timeline records.
// 3. VerifySegments.swift (beside 2, on threads of its own): every month's
//    records against the log's applied events, its seal, root, index, and
//    the chain of months; several months at once, each from its
//    predecessor's seal (VerifySegmentsParallel.swift).
// 4. VerifyLedgerChecks.swift: the invariants and per-ledger totals of the
//    replayed state; history summed against balances; the balance index
//    watchdog.
// The classification of what is found: VerifyReport.swift.

public enum Verifier {
    /// Verifies the data directory at `path` (classified: see
    /// `VerifyReport.warningKinds`), checking up to `monthsInParallel`
    /// months at once beside the WAL replay. `progress` may be called from
    /// several threads.
    public static func verify(
        at path: String, storage: any Storage = POSIXStorage(), monthsInParallel: Int = monthsInParallelDefault,
        progress: (@Sendable (VerifyProgress) -> Void)? = nil
    ) throws -> VerifyReport {
        precondition((1...Limits.verifyMonthsInParallelMax).contains(monthsInParallel), "months in parallel: \(monthsInParallel)")
        var report = try verifyUnclassified(at: path, storage: storage, monthsInParallel: monthsInParallel, progress: progress)
        report.classify()
        return report
    }

    static func verifyUnclassified(
        at path: String, storage: any Storage, monthsInParallel: Int, progress: (@Sendable (VerifyProgress) -> Void)?
    ) throws -> VerifyReport {
        let layout = DataDirectoryLayout(root: path)
        guard storage.fileExists(layout.root) else {
            throw LedgerError(.notInitialized, "data directory does not exist", path: layout.root)
        }
        var report = VerifyReport()
        let directory: ReadOnlyDirectory
        do {
            directory = try ReadOnlyDirectory(at: path, storage: storage)
        } catch let error as LedgerError where error.code == .corruption {
            report.problems.append(.init(severity: .error, file: layout.metaPath, offset: error.offset, kind: "bad meta", message: error.message))
            return report
        }
        defer { directory.close() }
        report.residentWindowMonths = directory.meta.residentWindowMonths
        let directoryID = directory.meta.directoryID
        let walFirstLSN = try WALReader(storage: storage, layout: layout).walFiles().first?.firstLSN ?? 1
        let segments = SegmentHalf(
            storage: storage, layout: layout, directoryID: directoryID, walFirstLSN: walFirstLSN, monthsInParallel: monthsInParallel, progress: progress)
        var replayed = false
        defer { if !replayed { segments.cancel() } }
        guard
            var start = try VerifyReplayStart.choose(storage: storage, layout: layout, meta: directory.meta, walFirstLSN: walFirstLSN, report: &report),
            let evicted = try start.evictedEntries(storage: storage, layout: layout, meta: directory.meta, report: &report)
        else { return report }
        segments.feed.setStart(afterLSN: start.lsn)
        var replay = try replayWAL(from: start, evicted: evicted, feed: segments.feed, storage: storage, layout: layout, report: &report, progress: progress)
        replayed = true
        (replay.segmentReport, replay.fromSegments) = segments.join()
        reportWAL(replay, layout: layout, report: &report)
        reportTimelines(replay, storage: storage, layout: layout, report: &report)
        checkLedgerTotals(replay.machine, evicted: evicted, layout: layout, report: &report)
        try checkHistory(replay, layout: layout, report: &report)
        try checkBalanceIndex(replay, storage: storage, layout: layout, directoryID: directoryID, report: &report, progress: progress)
        return report
    }
}
