// Online verify: `verify`'s checks on the directory of a running engine,
// up to one consistent LSN, while commits continue (Ledger.verifyOnline
// holds compaction and archival back meanwhile, so no file it reads is
// deleted or replaced under it).
//
// 1. Every sealed and archived month, oldest first: records, seal, root,
//    index, and the chain of months (their files no longer change).
// 2. The WAL from its first file through the LSN: every checksum and the
//    SHA-256 chain, every record replayed from the snapshot the replay
//    starts from, every later snapshot compared with the replay.
// 3. The replayed state at the LSN against the live state the engine held
//    at that LSN, account by account, and the chain head against its own.
// The open month's records are checked when it is sealed (or by a stopped
// directory's `verify`): it is still being written.

extension Verifier {
    struct LivePoint {
        var lsn: UInt64
        var machine: LedgerStateMachine
        var chainHead: [UInt8]
        var sealed: [SealedMonth]
    }

    struct Cancelled: Error {}

    static func verifyLive(
        storage: any Storage, layout: DataDirectoryLayout, meta: DataDirectoryMeta, at point: LivePoint,
        progress: @escaping @Sendable (VerifyProgress) -> Void, isCancelled: @escaping () -> Bool
    ) throws -> VerifyReport {
        var report = VerifyReport()
        try checkSealedMonths(storage: storage, layout: layout, meta: meta, point.sealed, report: &report, progress: progress, isCancelled: isCancelled)
        let walFirstLSN = try WALReader(storage: storage, layout: layout).walFiles().first?.firstLSN ?? 1
        guard var start = try VerifyReplayStart.choose(storage: storage, layout: layout, meta: meta, walFirstLSN: walFirstLSN, report: &report),
            let evicted = try start.evictedEntries(storage: storage, layout: layout, meta: meta, report: &report)
        else { return report }
        var replayFailure: LedgerError?
        var results: [ResultCode] = []
        let walProgress: (Int, Int) -> Void = { progress(VerifyProgress(phase: "WAL", done: $0, total: $1)) }
        let scan = try WALReader(storage: storage, layout: layout).scan(mode: .verify, throughLSN: point.lsn, progress: walProgress) { record in
            if isCancelled() { throw Cancelled() }
            guard record.header.lsn > start.lsn, replayFailure == nil else { return }
            do {
                try Ledger.replayRecord(
                    record, into: &start.machine, chain: &start.chain, results: &results, checkChainLink: start.chainAnchored, evicted: evicted)
                start.chainAnchored = true
                if record.header.type == WALFormat.recordTypeGroup { report.chainLSN = record.header.lsn }
            } catch let error as LedgerError {
                replayFailure = LedgerError(.corruption, error.message, path: record.path, offset: record.offset)
            }
            for snapshot in start.snapshots where snapshot.lsn == record.header.lsn && snapshot.lsn > start.lsn {
                if let difference = start.machine.difference(from: snapshot.machine) {
                    report.problems.append(
                        .init(severity: .error, file: snapshot.path, offset: nil, kind: "snapshot differs from the log", message: difference))
                }
            }
        }
        let replay = VerifyWALReplay(
            machine: start.machine, chain: start.chain, scan: scan, replayFailure: replayFailure, segmentReport: VerifyReport(), fromSegments: .success(nil))
        reportWAL(replay, layout: layout, report: &report)
        compareWithLive(replay, point: point, layout: layout, report: &report)
        report.classify()
        return report
    }

    private static func checkSealedMonths(
        storage: any Storage, layout: DataDirectoryLayout, meta: DataDirectoryMeta, _ sealed: [SealedMonth], report: inout VerifyReport,
        progress: @escaping @Sendable (VerifyProgress) -> Void, isCancelled: () -> Bool
    ) throws {
        // Their records are compared with the log by a stopped directory's
        // verify; here, with everything they are sealed with.
        var check = SegmentCheck(storage: storage, layout: layout, directoryID: meta.directoryID, feed: AppliedFeed(startLSNAtLeast: .max))
        for (i, month) in sealed.enumerated() {
            if isCancelled() { throw Cancelled() }
            progress(VerifyProgress(phase: "segments", done: i, total: sealed.count))
            guard try check.month(month.month, form: month.form, isLast: false, report: &report) else { return }
        }
    }

    private static func compareWithLive(_ replay: VerifyWALReplay, point: LivePoint, layout: DataDirectoryLayout, report: inout VerifyReport) {
        guard replay.logUsable else { return }  // reported already; the states cannot be compared
        if replay.chain.head != point.chainHead {
            report.problems.append(
                .init(
                    severity: .error, file: layout.root, offset: nil, kind: "chain differs from the engine's",
                    message: "the log's chain head at LSN \(point.lsn) is \(replay.chain.hex); the running engine holds another"))
        }
        if let difference = replay.machine.difference(from: point.machine) {
            report.problems.append(
                .init(
                    severity: .error, file: layout.root, offset: nil, kind: "live state differs from the log",
                    message: "at LSN \(point.lsn): \(difference)"))
        }
    }
}
