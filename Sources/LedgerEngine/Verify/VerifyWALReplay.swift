// `verify`'s two halves, run at the same time: this thread scans the WAL
// (every checksum, continuing past errors like etcd's continueOnCrcError;
// the SHA-256 chain; the torn-tail classification) and replays every batch
// after the start, comparing each result with the one the log recorded and
// each later snapshot with the state at its LSN; the segment half
// (VerifySegments.swift) runs on threads of its own from the start of
// verify (`SegmentHalf`), fed the applied events.

/// What the WAL half found, and the segment half's answer.
struct VerifyWALReplay {
    var machine: LedgerStateMachine
    var chain: HashChain
    var scan: WALScanResult
    /// The first record whose replay differs from the log (the replay stops there).
    var replayFailure: LedgerError?
    var segmentReport: VerifyReport
    var fromSegments: Result<SegmentState?, Error>
    /// Every timeline record the WAL holds, in LSN order.
    var timelineRecords: [TimelineSwitch] = []

    /// The WAL could be replayed to its end, so what derives from it can be
    /// compared with it.
    var logUsable: Bool { replayFailure == nil && scan.problems.isEmpty }
}

extension Verifier {
    /// Replays the WAL from `start`, publishing the applied events to `feed`
    /// (and finishing it) for the segment half, which runs meanwhile.
    static func replayWAL(
        from start: VerifyReplayStart, evicted: EvictedEntries, feed: AppliedFeed, storage: any Storage, layout: DataDirectoryLayout,
        report: inout VerifyReport, progress: (@Sendable (VerifyProgress) -> Void)?
    ) throws -> VerifyWALReplay {
        var start = start
        let startLSN = start.lsn
        var replayFailure: LedgerError?
        var results: [ResultCode] = []
        var applied: [AppliedEvent] = []
        applied.reserveCapacity(AppliedFeed.chunkEvents)
        let walProgress = progress.map { report in { @Sendable (done: Int, total: Int) in report(VerifyProgress(phase: "WAL", done: done, total: total)) } }
        var timelineRecords: [TimelineSwitch] = []
        let scan = try WALReader(storage: storage, layout: layout).scan(mode: .verify, progress: walProgress) { record in
            if record.header.type == WALFormat.recordTypeTimeline, let row = TimelineSwitch.decode(record.payload) { timelineRecords.append(row) }
            guard record.header.lsn > startLSN else {
                if start.rebuiltFromSegments && record.header.type == WALFormat.recordTypeGroup && record.payload.count >= WALFormat.groupHeaderBytes {
                    start.chain = HashChain(head: WALGroupPayload.chainHash(record.payload))
                    start.chainAnchored = true
                }
                return
            }
            guard replayFailure == nil else { return }
            defer { compareSnapshots(start, at: record.header.lsn, report: &report) }
            do {
                try Ledger.replayRecord(
                    record, into: &start.machine, chain: &start.chain, results: &results, checkChainLink: start.chainAnchored, evicted: evicted)
                start.chainAnchored = true
                if record.header.type == WALFormat.recordTypeGroup { report.chainLSN = record.header.lsn }
                try collectApplied(record, into: &applied)
                if applied.count >= AppliedFeed.chunkEvents {
                    feed.publish(applied)
                    applied.removeAll(keepingCapacity: true)
                }
            } catch let error as LedgerError {
                replayFailure = LedgerError(.corruption, error.message, path: record.path, offset: record.offset)
            }
        }
        feed.publish(applied)
        feed.finish(logClosedCleanly: scan.endsWithClose)
        return VerifyWALReplay(
            machine: start.machine, chain: start.chain, scan: scan, replayFailure: replayFailure, segmentReport: VerifyReport(),
            fromSegments: .success(nil), timelineRecords: timelineRecords)
    }

    /// Every snapshot after the start must equal the replayed state at its LSN.
    private static func compareSnapshots(_ replayed: VerifyReplayStart, at lsn: UInt64, report: inout VerifyReport) {
        for snapshot in replayed.snapshots where snapshot.lsn == lsn && snapshot.lsn > replayed.lsn {
            if let difference = replayed.machine.difference(from: snapshot.machine) {
                report.problems.append(.init(severity: .error, file: snapshot.path, offset: nil, kind: "snapshot differs from the log", message: difference))
            }
        }
    }

    /// The WAL half's findings: scan problems, a torn tail, a replay mismatch.
    static func reportWAL(_ replay: VerifyWALReplay, layout: DataDirectoryLayout, report: inout VerifyReport) {
        let scan = replay.scan
        report.chainHead = replay.chain.hex
        report.walFiles = scan.fileCount
        report.walRecords = scan.recordCount
        report.walBytes = scan.bytesScanned
        report.lastLSN = scan.lastLSN
        for problem in scan.problems {
            report.problems.append(.init(severity: .error, file: problem.path, offset: problem.offset, kind: problem.kind, message: problem.message))
        }
        if let torn = scan.tornTailOffset {
            report.problems.append(
                .init(
                    severity: .warning, file: scan.lastFilePath, offset: torn, kind: "torn tail",
                    message: "bytes after the last valid record were never acknowledged; the next open truncates them"))
        }
        if let failure = replay.replayFailure {
            report.problems.append(
                .init(severity: .error, file: failure.path ?? layout.root, offset: failure.offset, kind: "replay mismatch", message: failure.message))
        }
    }

    /// `timeline-history` against the log's timeline records (as open
    /// checks it): a differing row or a missing record is an error; a row
    /// a crash left out is a warning (the next read-write open adds it).
    static func reportTimelines(_ replay: VerifyWALReplay, storage: any Storage, layout: DataDirectoryLayout, report: inout VerifyReport) {
        do {
            var history = try TimelineHistoryFile.read(storage: storage, layout: layout)
            let added = try history.reconcile(
                with: replay.timelineRecords, walFirstLSN: replay.scan.firstLSN, walLastLSN: replay.scan.lastLSN, path: layout.timelineHistoryPath)
            if added {
                report.problems.append(
                    .init(
                        severity: .warning, file: layout.timelineHistoryPath, offset: nil, kind: "timeline history behind the log",
                        message: "the WAL holds timeline \(history.current)'s record but the file lacks its row; the next read-write open adds it"))
            }
        } catch let error as LedgerError {
            report.problems.append(
                .init(severity: .error, file: error.path ?? layout.timelineHistoryPath, offset: error.offset, kind: "timeline history", message: error.message))
        } catch {
            report.problems.append(.init(severity: .error, file: layout.timelineHistoryPath, offset: nil, kind: "timeline history", message: "\(error)"))
        }
    }
}

/// The segment half, started before the replay chooses its start (loading
/// and checking the snapshots takes a while, and only the months the WAL
/// still holds wait for it).
final class SegmentHalf {
    let feed: AppliedFeed
    private let result: ThreadedResult<(report: VerifyReport, state: Result<SegmentState?, Error>)>

    init(
        storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], walFirstLSN: UInt64, monthsInParallel: Int,
        progress: (@Sendable (VerifyProgress) -> Void)?
    ) {
        let feed = AppliedFeed(startLSNAtLeast: walFirstLSN > 0 ? walFirstLSN - 1 : 0)
        self.feed = feed
        result = ThreadedResult {
            var report = VerifyReport()
            let state = Result {
                try Verifier.verifySegments(
                    storage: storage, layout: layout, directoryID: directoryID, applied: feed, monthsInParallel: monthsInParallel, report: &report,
                    progress: progress)
            }
            return (report, state)
        }
    }

    /// What it found, once the feed is finished (waits for its threads).
    func join() -> (report: VerifyReport, state: Result<SegmentState?, Error>) {
        (try? result.value()) ?? (VerifyReport(), .success(nil))
    }

    /// Verify stops before the replay: the half stops at its next month.
    func cancel() {
        feed.cancel()
        _ = join()
    }
}
