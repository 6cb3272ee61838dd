// `verify`: read-only checking of a whole data directory.
//
// 1. Every WAL checksum (continuing past errors, like etcd's
//    continueOnCrcError), the chain, and the torn-tail classification.
// 2. Every batch replayed from scratch, each result compared with the one
//    recorded in the log.
// 3. The ledger invariants on the recomputed state.
// 4. The ledger watchdog: every balance recomputed from the log compared with
//    the balance index slot.
// Nothing is written; repairs are an explicit operator act (opening the
// directory runs recovery).

public struct VerifyReport: Sendable {
    public enum Severity: String, Sendable { case error, warning }

    public struct Problem: Sendable, CustomStringConvertible {
        public var severity: Severity
        public var file: String
        public var offset: Int?
        public var kind: String
        public var message: String
        public var description: String {
            "\(severity.rawValue): \(file)\(offset.map { " offset \($0)" } ?? ""): \(kind): \(message)"
        }
    }

    public struct LedgerTotals: Sendable {
        public var ledger: UInt32
        public var debitsPosted: UInt128 = 0
        public var creditsPosted: UInt128 = 0
        public var debitsPending: UInt128 = 0
        public var creditsPending: UInt128 = 0
    }

    public var walFiles = 0
    public var walRecords = 0
    public var walBytes = 0
    public var lastLSN: UInt64 = 0
    public var accounts = 0
    public var entries = 0
    public var openHolds = 0
    public var indexSlotsChecked = 0
    /// The SHA-256 chain head after the last group record, and its LSN.
    public var chainHead = ""
    public var chainLSN: UInt64 = 0
    public var snapshotFiles = 0
    /// The snapshot LSN the replay started from (0: the WAL's start).
    public var replayStartLSN: UInt64 = 0
    public var segmentFiles = 0
    public var segmentRecords = 0
    /// (month, SHA-256 month root in hex) of every sealed month, oldest first.
    public var sealedMonths: [(month: String, root: String)] = []
    /// Every month on disk, oldest first, with the form it is held in.
    public var monthForms: [(month: String, form: SegmentForm)] = []
    public var ledgers: [LedgerTotals] = []
    public var problems: [Problem] = []

    public var passed: Bool { !problems.contains { $0.severity == .error } }

    /// The one classification (docs/cli.md "verify", Specs/segment-format.md):
    /// an error is acknowledged data lost or altered, or damage to a file the
    /// engine cannot rebuild (WAL, segments, archives, snapshots, ledger.meta);
    /// a warning is damage to a derived file that the next read-write open
    /// rebuilds from the log (the balance index, a month index), a torn tail
    /// that was never acknowledged, or work left for the next run (an
    /// interrupted archival, unfiled events after a crash). These kinds are
    /// always warnings; every other kind is an error.
    public static let warningKinds: Set<String> = [
        "torn tail", "index unusable", "index account count", "slot checksum", "balance mismatch", "index missing",
        "index differs from the segment", "watchdog skipped", "archival or restore interrupted", "state rebuilt from segments",
        "segments checked alone",
    ]

    /// Applies `warningKinds` ("segments behind the log" is a warning only
    /// when the log did not end with a clean close; it says so itself).
    mutating func classify() {
        for i in problems.indices where Self.warningKinds.contains(problems[i].kind) { problems[i].severity = .warning }
    }
}

/// What `verify` is doing, for a progress display: `phase` is "snapshots",
/// "WAL" (files), "segments" (months) or "index" (slots); the WAL and the
/// segments are checked at the same time, on two threads.
public struct VerifyProgress: Sendable {
    public var phase: String
    public var done: Int
    public var total: Int
}

public enum Verifier {
    /// Verifies the data directory at `path` (classified: see
    /// `VerifyReport.warningKinds`). `progress` may be called from two threads.
    public static func verify(at path: String, storage: any Storage = POSIXStorage(), progress: (@Sendable (VerifyProgress) -> Void)? = nil) throws -> VerifyReport {
        var report = try verifyUnclassified(at: path, storage: storage, progress: progress)
        report.classify()
        return report
    }

    /// `progress(done, total)` reports
    /// WAL files scanned.
    static func verifyUnclassified(at path: String, storage: any Storage, progress: (@Sendable (VerifyProgress) -> Void)?) throws -> VerifyReport {
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
        let meta = directory.meta

        var machine = LedgerStateMachine()
        var replayFailure: LedgerError?
        var results: [ResultCode] = []
        var applied: [AppliedEvent] = []
        applied.reserveCapacity(AppliedFeed.chunkEvents)
        var chain = HashChain(directoryID: meta.directoryID)
        // Every snapshot must load; the replay starts from the oldest one the
        // WAL continues (or from nothing while the WAL starts at LSN 1), and
        // every later snapshot must equal the replayed state at its LSN.
        let walFirstLSN = try WALReader(storage: storage, layout: layout).walFiles().first?.firstLSN ?? 1
        var snapshots: [(lsn: UInt64, path: String, machine: LedgerStateMachine)] = []
        for (_, path) in try SnapshotStore.list(storage: storage, layout: layout) {
            report.snapshotFiles += 1
            do {
                let (header, restored) = try SnapshotStore.load(path: path, storage: storage, directoryID: meta.directoryID)
                snapshots.append((header.lsn, path, restored))
                if walFirstLSN > 1 && header.lsn + 1 >= walFirstLSN && report.replayStartLSN == 0 {
                    machine = restored
                    chain = HashChain(head: header.chainHead)
                    report.replayStartLSN = header.lsn
                }
            } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
                report.problems.append(.init(severity: .error, file: error.path ?? path, offset: error.offset, kind: "snapshot corruption", message: error.message))
            }
        }
        // No snapshot reaches the compacted WAL: start from the segments, as
        // recovery does (StateRebuild), and say so.
        var chainAnchored = true
        var rebuiltFromSegments = false
        if walFirstLSN > 1 && report.replayStartLSN == 0 {
            let rebuilt: (machine: LedgerStateMachine, lastLSN: UInt64, events: Int)
            do {
                rebuilt = try StateRebuild.fromSegments(storage: storage, layout: layout, directoryID: meta.directoryID, walFirstLSN: walFirstLSN)
            } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
                report.problems.append(.init(severity: .error, file: error.path ?? layout.segmentsDirectory, offset: error.offset, kind: "segment corruption", message: error.message))
                return report
            }
            guard rebuilt.lastLSN + 1 >= walFirstLSN else {
                report.problems.append(.init(
                    severity: .error, file: layout.root, offset: nil, kind: "history missing",
                    message: "the WAL starts at LSN \(walFirstLSN), no usable snapshot reaches it, and the segments end at LSN \(rebuilt.lastLSN), so the state cannot be rebuilt"))
                return report
            }
            machine = rebuilt.machine
            report.replayStartLSN = rebuilt.lastLSN
            chainAnchored = false
            rebuiltFromSegments = true
            report.problems.append(.init(
                severity: .warning, file: layout.root, offset: nil, kind: "state rebuilt from segments",
                message: "no usable snapshot reaches the WAL (which starts at LSN \(walFirstLSN)); the state was rebuilt from the segments through LSN \(rebuilt.lastLSN), and the SHA-256 chain is checked from the WAL's records on"))
        }
        let startLSN = report.replayStartLSN
        // Ids evicted from the resident window are looked up in the sealed
        // months on disk, as the engine does (their damage, if any, is
        // reported by the segment half).
        let evicted = EvictedEntries(storage: storage, layout: layout, directoryID: meta.directoryID)
        for (month, form) in try SegmentFiles.months(storage: storage, layout: layout) {
            guard let file = try? SegmentFiles.openForReading(month, form: form, storage: storage, layout: layout, directoryID: meta.directoryID) else { continue }
            defer { file.close() }
            if let seal = try? SegmentReader.readSeal(file: file, expectedDirectoryID: meta.directoryID) {
                evicted.register(SealedMonth(month: month, monthRoot: seal.monthRoot, lastLSN: seal.lastLSN, lastTimestamp: seal.lastTimestamp, form: form))
            }
        }
        evicted.filed(throughNs: .max)
        machine.evictsOldEntries = true
        do {
            try evicted.rebuildFilter(before: machine.residentSinceNs)
        } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
            report.problems.append(.init(severity: .error, file: error.path ?? layout.segmentsDirectory, offset: error.offset, kind: "segment corruption", message: error.message))
            return report
        }
        // The segment half runs beside the WAL replay, fed its applied events.
        let feed = AppliedFeed()
        nonisolated(unsafe) var segmentReport = VerifyReport()
        nonisolated(unsafe) var fromSegmentsResult: Result<SegmentState?, Error> = .success(nil)
        let directoryID = meta.directoryID
        let segmentThread = Thread {
            fromSegmentsResult = Result {
                try verifySegments(
                    storage: storage, layout: layout, directoryID: directoryID, applied: feed, appliedAfterLSN: startLSN, report: &segmentReport,
                    progress: progress)
            }
        }
        segmentThread.start()
        var walFinished = false
        defer {
            if !walFinished {  // the WAL scan threw: release and wait for the segment half
                feed.finish(logClosedCleanly: false)
                segmentThread.join()
            }
        }
        let walProgress = progress.map { report in { @Sendable (done: Int, total: Int) in report(VerifyProgress(phase: "WAL", done: done, total: total)) } }
        let scan = try WALReader(storage: storage, layout: layout).scan(mode: .verify, progress: walProgress) { record in
            guard record.header.lsn > startLSN else {
                if rebuiltFromSegments && record.header.type == WALFormat.recordTypeGroup && record.payload.count >= WALFormat.groupHeaderBytes {
                    chain = HashChain(head: WALGroupPayload.chainHash(record.payload))
                    chainAnchored = true
                }
                return
            }
            guard replayFailure == nil else { return }
            defer {
                for snapshot in snapshots where snapshot.lsn == record.header.lsn && snapshot.lsn > startLSN {
                    if let difference = machine.difference(from: snapshot.machine) {
                        report.problems.append(.init(severity: .error, file: snapshot.path, offset: nil, kind: "snapshot differs from the log", message: difference))
                    }
                }
            }
            do {
                try Ledger.replayRecord(record, into: &machine, chain: &chain, results: &results, checkChainLink: chainAnchored, evicted: evicted)
                chainAnchored = true
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
        walFinished = true
        segmentThread.join()
        report.chainHead = chain.hex
        report.walFiles = scan.fileCount
        report.walRecords = scan.recordCount
        report.walBytes = scan.bytesScanned
        report.lastLSN = scan.lastLSN
        for problem in scan.problems {
            report.problems.append(.init(severity: .error, file: problem.path, offset: problem.offset, kind: problem.kind, message: problem.message))
        }
        if let torn = scan.tornTailOffset {
            report.problems.append(.init(
                severity: .warning, file: scan.lastFilePath, offset: torn, kind: "torn tail",
                message: "bytes after the last valid record were never acknowledged; the next open truncates them"))
        }
        if let replayFailure {
            report.problems.append(.init(severity: .error, file: replayFailure.path ?? layout.root, offset: replayFailure.offset, kind: "replay mismatch", message: replayFailure.message))
        }
        for violation in machine.invariantViolations() {
            report.problems.append(.init(severity: .error, file: layout.root, offset: nil, kind: "invariant", message: violation))
        }
        report.accounts = machine.accountCount
        // Every entry checked: those in memory and those evicted to the sealed months.
        report.entries = machine.entryCount + evicted.filteredIDCount
        report.openHolds = machine.openHoldCount
        var totals: [UInt32: VerifyReport.LedgerTotals] = [:]
        for account in machine.accounts {
            var t = totals[account.ledger] ?? .init(ledger: account.ledger)
            // The state machine bounds these sums (`ledgerTotalOverflow`); a log
            // that passes the bound is reported, never trapped on.
            var fits = true
            for (sum, amount) in [(\VerifyReport.LedgerTotals.debitsPosted, account.debitsPosted), (\.creditsPosted, account.creditsPosted),
                                  (\.debitsPending, account.debitsPending), (\.creditsPending, account.creditsPending)] {
                let (value, overflow) = t[keyPath: sum].addingReportingOverflow(amount)
                t[keyPath: sum] = value
                fits = fits && !overflow
            }
            if !fits {
                report.problems.append(.init(
                    severity: .error, file: layout.root, offset: nil, kind: "ledger total overflow",
                    message: "ledger \(account.ledger): a sum of its balances passes 2^128 - 1 at account \(account.id) (the engine rejects such entries with ledgerTotalOverflow)"))
            }
            totals[account.ledger] = t
        }
        report.ledgers = totals.values.sorted { $0.ledger < $1.ledger }

        // The segments are checked on their own (records, roots, seals,
        // indexes, archives) whatever the WAL holds; against the log only
        // while the log could be replayed.
        let logUsable = replayFailure == nil && scan.problems.isEmpty
        report.segmentFiles = segmentReport.segmentFiles
        report.segmentRecords = segmentReport.segmentRecords
        report.sealedMonths = segmentReport.sealedMonths
        report.monthForms = segmentReport.monthForms
        let comparedWithTheLog: Set<String> = ["segment differs from the log", "segments behind the log"]
        report.problems += segmentReport.problems.filter { logUsable || !comparedWithTheLog.contains($0.kind) }
        if !logUsable {
            _ = try? fromSegmentsResult.get()
            report.problems.append(.init(
                severity: .warning, file: layout.segmentsDirectory, offset: nil, kind: "segments checked alone",
                message: "the WAL has errors (above), so the segments were checked on their own but not compared with the log"))
        }
        if logUsable {
            let fromSegments = try fromSegmentsResult.get()
            // The watchdog over history: every account as the segments sum it
            // up equals the account as the log replays it.
            if let fromSegments {
                for account in machine.accounts {
                    let summed = fromSegments.account(account.id)
                    if summed?.balances != AccountBalances(account) || summed?.flags != account.flags || summed?.ledger != account.ledger {
                        report.problems.append(.init(
                            severity: .error, file: layout.segmentsDirectory, offset: nil, kind: "history does not sum to the balance",
                            message: "account \(account.id): the segments sum to \(summed.map { "\($0.balances)" } ?? "no account"), the log to \(AccountBalances(account))"))
                    }
                }
                if fromSegments.accounts.count != machine.accountCount {
                    report.problems.append(.init(severity: .error, file: layout.segmentsDirectory, offset: nil, kind: "history does not sum to the balance", message: "the segments hold \(fromSegments.accounts.count) accounts, the log \(machine.accountCount)"))
                }
            }
        }

        // The watchdog: every stored balance against the recomputed one.
        guard replayFailure == nil, scan.problems.isEmpty else {
            report.problems.append(.init(severity: .warning, file: layout.indexPath, offset: nil, kind: "watchdog skipped", message: "the log could not be replayed to its end, so balances were not compared"))
            return report
        }
        switch try BalanceIndex.readSlots(storage: storage, layout: layout, directoryID: meta.directoryID, walLastLSN: scan.lastLSN) {
        case .failure(let reason):
            report.problems.append(.init(severity: .error, file: layout.indexPath, offset: nil, kind: "index unusable", message: "\(reason.text); the next open rebuilds it from the log"))
        case .success(let slots):
            progress?(VerifyProgress(phase: "index", done: slots.count, total: slots.count))
            if slots.count != machine.accountCount {
                report.problems.append(.init(severity: .error, file: layout.indexPath, offset: nil, kind: "index account count", message: "index holds \(slots.count) accounts, the log \(machine.accountCount)"))
            }
            for (slot, account) in machine.accounts.enumerated() where slot < slots.count {
                report.indexSlotsChecked += 1
                let offset = BalanceIndexFormat.slotsOffset + slot * BalanceIndexFormat.slotBytes
                guard let (stored, _) = slots[slot] else {
                    report.problems.append(.init(severity: .error, file: layout.indexPath, offset: offset, kind: "slot checksum", message: "slot \(slot) fails its checksum"))
                    continue
                }
                if stored != account {
                    report.problems.append(.init(
                        severity: .error, file: layout.indexPath, offset: offset, kind: "balance mismatch",
                        message: "account \(account.id): index has debits \(stored.debitsPosted)/\(stored.debitsPending) credits \(stored.creditsPosted)/\(stored.creditsPending) (posted/pending), the log sums to debits \(account.debitsPosted)/\(account.debitsPending) credits \(account.creditsPosted)/\(account.creditsPending)"))
                }
            }
        }
        return report
    }
}

/// An applied event as the WAL records it, for comparison with the segments.
struct AppliedEvent {
    var timestamp: UInt64
    var lsn: UInt64
    var fingerprint: UInt64
}

/// The WAL replay's applied events, handed in chunks to the segment checks,
/// which run on another thread at the same time (verify has two independent
/// halves; on 2 cores they overlap). Chunks are immutable once published.
final class AppliedFeed: @unchecked Sendable {
    static let chunkEvents = 1 << 16
    private let lock = ConditionLock()
    private var chunks: [[AppliedEvent]] = []
    private var total = 0
    private var finished = false
    private(set) var logClosedCleanly = false

    func publish(_ chunk: [AppliedEvent]) {
        guard !chunk.isEmpty else { return }
        lock.withLock {
            chunks.append(chunk)
            total += chunk.count
            lock.broadcast()
        }
    }

    func finish(logClosedCleanly: Bool) {
        lock.withLock {
            finished = true
            self.logClosedCleanly = logClosedCleanly
            lock.broadcast()
        }
    }

    /// Chunk `i`, waiting for it; nil once the feed is finished without it.
    func chunk(_ i: Int) -> [AppliedEvent]? {
        lock.withLock {
            while i >= chunks.count && !finished { lock.wait() }
            return i < chunks.count ? chunks[i] : nil
        }
    }

    /// Every event's count, once finished.
    func finalCount() -> Int {
        lock.withLock {
            while !finished { lock.wait() }
            return total
        }
    }

    /// Reads the feed in order.
    struct Reader {
        let feed: AppliedFeed
        private var chunkIndex = 0
        private var chunk: [AppliedEvent] = []
        private var inChunk = 0

        init(_ feed: AppliedFeed) { self.feed = feed }

        mutating func next() -> AppliedEvent? {
            while inChunk == chunk.count {
                guard let next = feed.chunk(chunkIndex) else { return nil }
                chunk = next
                chunkIndex += 1
                inChunk = 0
            }
            defer { inChunk += 1 }
            return chunk[inChunk]
        }
    }
}

extension Verifier {
    static func collectApplied(_ record: WALRecord, into applied: inout [AppliedEvent]) throws {
        guard record.header.type == WALFormat.recordTypeGroup else { return }
        try WALGroupPayload.forEachBatch(record.payload, validateEvents: false) { batch in
            var index = 0
            EventBatchReader.forEach(batch.events, eventCount: batch.eventCount) { offset, size in
                if batch.results[index] == ResultCode.ok.rawValue {
                    applied.append(AppliedEvent(
                        timestamp: batch.timestamp + UInt64(index), lsn: record.header.lsn,
                        fingerprint: Fingerprint.of(batch.events, offset: offset, count: size)))
                }
                index += 1
            }
        }
    }

    /// Every segment's checksums, and segments == the WAL's applied events,
    /// in order. Lagging segments are a warning after a crash (the next open
    /// re-files them) and an error after a clean close. Then, from the
    /// segments alone: every month's state and index are rebuilt, each sealed
    /// month's seal must equal the recomputed one (totals, closing balances,
    /// open holds, root, link to the previous month) and its index file the
    /// re-encoded index, byte for byte. Returns the state the segments sum to.
    @discardableResult
    static func verifySegments(
        storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], applied feed: AppliedFeed, appliedAfterLSN: UInt64 = 0,
        report: inout VerifyReport, progress: (@Sendable (VerifyProgress) -> Void)? = nil
    ) throws -> SegmentState? {
        var applied = AppliedFeed.Reader(feed)
        let months = try SegmentFiles.months(storage: storage, layout: layout)
        var cursor = 0
        var mismatch = false
        var state = SegmentState()
        var previous: (month: UTCMonth, root: [UInt8])?
        for (i, (month, form)) in months.enumerated() {
            progress?(VerifyProgress(phase: "segments", done: i, total: months.count))
            report.segmentFiles += 1
            report.monthForms.append((month.description, form))
            // An archive is read through its frame index, decompressing each
            // frame in memory: nothing decompressed is written to disk.
            let file: any ReadableFile
            do {
                file = try SegmentFiles.openForReading(month, form: form, storage: storage, layout: layout, directoryID: directoryID)
            } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
                report.problems.append(.init(severity: .error, file: error.path ?? layout.archivePath(month), offset: error.offset, kind: "archive corruption", message: error.message))
                return nil
            }
            defer { file.close() }
            let path = file.path
            if form == .both {
                report.problems.append(.init(
                    severity: .warning, file: layout.archivePath(month), offset: nil, kind: "archival or restore interrupted",
                    message: "\(month) has both a segment and an archive; run `ledgerctl archive` or `ledgerctl restore --month \(month)` to finish"))
                do {
                    try SegmentArchiver.checkArchiveMatchesSegment(storage: storage, layout: layout, month: month, directoryID: directoryID)
                } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
                    report.problems.append(.init(severity: .error, file: error.path ?? layout.archivePath(month), offset: error.offset, kind: "archive differs from the segment", message: error.message))
                }
            }
            // The chain link first: without the month before it, a month's
            // records do not apply.
            if let linked = try? SegmentReader.readHeader(file: file),
                linked.previousMonth != previous?.month || linked.previousRoot != (previous?.root ?? SegmentFiler.zeroRoot)
            {
                report.problems.append(.init(
                    severity: .error, file: path, offset: 40, kind: "month chain broken",
                    message: "\(month) links to \(linked.previousMonth.map { "\($0)" } ?? "no month") but the month before it on disk is \(previous.map { "\($0.month)" } ?? "none") (a month is missing or was replaced)"))
                return nil
            }
            var index = MonthIndexBuilder(month: month)
            var first: (UInt64, UInt64)?
            var stateFailure: LedgerError?
            let scan: SegmentScanResult
            do {
                scan = try SegmentReader.scan(file: file, expectedDirectoryID: directoryID) { record in
                    report.segmentRecords += 1
                    if first == nil { first = (record.header.lsn, record.header.timestamp) }
                    if stateFailure == nil {
                        do {
                            try index.add(event: record.event, offset: record.offset, timestamp: record.header.timestamp, state: &state)
                        } catch let error as LedgerError {
                            stateFailure = LedgerError(.corruption, error.message, path: path, offset: record.offset)
                        }
                    }
                    // Records the compacted WAL no longer holds are checked
                    // through the seals, roots and the final balances instead.
                    guard !mismatch, record.header.lsn > appliedAfterLSN else { return }
                    let fingerprint = Fingerprint.of(record.event, offset: 0, count: record.event.count)
                    let expected = applied.next()
                    guard let expected, expected.timestamp == record.header.timestamp,
                        expected.lsn == record.header.lsn, expected.fingerprint == fingerprint
                    else {
                        mismatch = true
                        report.problems.append(.init(
                            severity: .error, file: path, offset: record.offset, kind: "segment differs from the log",
                            message: "record (LSN \(record.header.lsn), timestamp \(record.header.timestamp)) is not the log's applied event #\(cursor)"))
                        return
                    }
                    cursor += 1
                }
            } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
                report.problems.append(.init(
                    severity: .error, file: error.path ?? path, offset: error.offset, kind: form == .archive ? "archive corruption" : "segment corruption",
                    message: error.message))
                return nil
            }
            if let stateFailure {
                report.problems.append(.init(severity: .error, file: path, offset: stateFailure.offset, kind: "segment history inconsistent", message: stateFailure.message))
                return nil
            }
            guard let seal = scan.seal else {
                if i != months.count - 1 {
                    report.problems.append(.init(severity: .error, file: path, offset: nil, kind: "month not sealed", message: "\(month) is not sealed but later months exist"))
                }
                continue
            }
            let sealOffset = scan.sealOffset ?? 0
            previous = (month, seal.monthRoot)
            do {
                let expected = try SegmentFiler.makeSeal(
                    index: index, state: state, recordCount: scan.recordCount, first: first ?? (0, 0), last: (scan.lastLSN, scan.lastTimestamp),
                    previousMonth: seal.previousMonth, previousRoot: seal.previousRoot, monthRoot: seal.monthRoot)
                if expected != seal {
                    report.problems.append(.init(
                        severity: .error, file: path, offset: sealOffset, kind: "seal differs from the month",
                        message: "the seal's totals, closing balances or open holds are not what the month's records sum to"))
                }
            } catch let error as LedgerError {
                report.problems.append(.init(severity: .error, file: path, offset: sealOffset, kind: "month unbalanced", message: error.message))
            }
            report.sealedMonths.append((month.description, seal.monthRoot.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()))
            let indexPath = layout.segmentIndexPath(month)
            guard storage.fileExists(indexPath) else {
                report.problems.append(.init(severity: .warning, file: indexPath, offset: nil, kind: "index missing", message: "the next open rebuilds it from the segment"))
                continue
            }
            let indexFile = try storage.openFileForReading(indexPath)
            defer { indexFile.close() }
            let stored = try indexFile.readExactly(try indexFile.size(), at: 0)
            let rebuilt: [UInt8]
            do {
                rebuilt = try MonthIndexFormat.encode(index, directoryID: directoryID, monthRoot: seal.monthRoot, recordCount: scan.recordCount)
            } catch let error as LedgerError {
                report.problems.append(.init(severity: .error, file: path, offset: nil, kind: "segment history inconsistent", message: error.message))
                continue
            }
            if stored != rebuilt {
                let offset = (0..<min(stored.count, rebuilt.count)).first { stored[$0] != rebuilt[$0] } ?? min(stored.count, rebuilt.count)
                report.problems.append(.init(
                    severity: .error, file: indexPath, offset: offset, kind: "index differs from the segment",
                    message: "the month index is not the index of its segment; delete the file and the next open rebuilds it"))
            }
        }
        let appliedCount = feed.finalCount()
        let logClosedCleanly = feed.logClosedCleanly
        if !mismatch && cursor < appliedCount {
            report.problems.append(.init(
                severity: logClosedCleanly ? .error : .warning, file: layout.segmentsDirectory, offset: nil, kind: "segments behind the log",
                message: "the segments lack the last \(appliedCount - cursor) applied events" + (logClosedCleanly ? " although the ledger was closed cleanly" : "; the next open re-files them from the WAL")))
        }
        return mismatch || cursor < appliedCount ? nil : state
    }
}

/// Finds an entry in the WAL by id (for `ledgerctl lookup`). A linear scan:
/// the monthly segments of a later issue add an id index.
public struct FoundEntry: Sendable {
    public var entry: NewEntry
    public var timestamp: UInt64
    public var result: ResultCode?
    public var lsn: UInt64
    public var path: String
    public var offset: Int
}

public enum WALSearch {
    /// Every event with this entry id, accepted or not, in log order.
    public static func findEntry(id: UInt128, at path: String, storage: any Storage = POSIXStorage()) throws -> [FoundEntry] {
        let directory = try ReadOnlyDirectory(at: path, storage: storage)
        defer { directory.close() }
        let layout = directory.layout
        var found: [FoundEntry] = []
        _ = try WALReader(storage: storage, layout: layout).scan(mode: .verify) { record in
            guard record.header.type == WALFormat.recordTypeGroup else { return }
            try WALGroupPayload.forEachBatch(record.payload) { batch in
                var index = 0
                EventBatchReader.forEach(batch.events, eventCount: batch.eventCount) { offset, _ in
                    defer { index += 1 }
                    guard batch.events[offset] == EventFormat.kindCreateEntry, _LE.u128(batch.events, offset + 16) == id else { return }
                    guard case .createEntry(let entry) = EventBatchReader.decode(batch.events, at: offset) else { return }
                    found.append(FoundEntry(
                        entry: entry, timestamp: batch.timestamp + UInt64(index), result: ResultCode(rawValue: batch.results[index]),
                        lsn: record.header.lsn, path: record.path, offset: record.offset))
                }
            }
        }
        return found
    }
}
