// The segment half of `verify`, on its own thread beside the WAL replay:
// every month in order, oldest first (or several at once, each from its
// predecessor's seal: VerifySegmentsParallel.swift). Per month: the link to the month
// before it → every record's checksum, compared in order with the log's
// applied events → the month's state and index rebuilt from its records →
// for a sealed month, its seal against the recomputed one, its index
// file against the re-encoded index, byte for byte, and its account copy
// record by record (VerifyAccountCopies.swift).

import Foundation

extension Verifier {
    /// Every segment's checksums, and segments == the WAL's applied events,
    /// in order. Lagging segments are a warning after a crash (the next open
    /// re-files them) and an error after a clean close. Then, from the
    /// segments alone: every month's state and index are rebuilt, each sealed
    /// month's seal must equal the recomputed one (totals, closing balances,
    /// open holds, root, link to the previous month) and its index file the
    /// re-encoded index, byte for byte. Returns the state the segments sum to.
    @discardableResult
    static func verifySegments(
        storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], applied feed: AppliedFeed, monthsInParallel: Int = 1,
        report: inout VerifyReport, progress: (@Sendable (VerifyProgress) -> Void)? = nil
    ) throws -> SegmentState? {
        let months = try SegmentFiles.months(storage: storage, layout: layout)
        if monthsInParallel > 1 && months.count > 1,
            let starts = monthStarts(months, storage: storage, layout: layout, directoryID: directoryID)
        {
            return try verifyMonthsInParallel(
                months, starts: starts, threads: monthsInParallel, storage: storage, layout: layout, directoryID: directoryID, applied: feed,
                report: &report, progress: progress)
        }
        var check = SegmentCheck(storage: storage, layout: layout, directoryID: directoryID, feed: feed)
        for (i, (month, form)) in months.enumerated() {
            guard !feed.isCancelled else { return nil }
            progress?(VerifyProgress(phase: "segments", done: i, total: months.count))
            guard try check.month(month, form: form, isLast: i == months.count - 1, report: &report) else { return nil }
        }
        return check.finish(report: &report)
    }
}

/// The segment half's running state: where the comparison with the log's
/// applied events stands, and the state summed over the months so far.
struct SegmentCheck {
    let storage: any Storage
    let layout: DataDirectoryLayout
    let directoryID: [UInt8]
    let feed: AppliedFeed
    /// Records the compacted WAL no longer holds are checked through the
    /// seals, the roots and the final balances instead: those at or below
    /// the replay's start, asked of the feed once a record above
    /// `feed.startLSNAtLeast` needs it (the replay may still be choosing).
    private var appliedAfterLSN: UInt64?
    private var applied: AppliedFeed.Reader
    private var cursor = 0
    private var mismatch = false
    private(set) var state: SegmentState
    private var previous: (month: UTCMonth, root: [UInt8])?
    /// A month checked on its own (VerifySegmentsParallel.swift) finds where
    /// it meets the log, and keeps what it found for the merge, which alone
    /// knows whether the months before it left the log at that place.
    private(set) var alone: LogComparison?
    /// The last sealed month's seal is not what its records sum to (the
    /// months after it must not start from that seal).
    private(set) var sealDiffers = false

    init(
        storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], feed: AppliedFeed, start: MonthStart = MonthStart(),
        checkedAlone: Bool = false
    ) {
        self.storage = storage
        self.layout = layout
        self.directoryID = directoryID
        self.feed = feed
        self.applied = AppliedFeed.Reader(feed)
        self.state = start.state
        self.previous = start.previous
        self.alone = checkedAlone ? LogComparison() : nil
    }

    /// Checks one month. False when the months after it cannot be checked
    /// (its records do not read, or the chain of months is broken).
    mutating func month(_ month: UTCMonth, form: SegmentForm, isLast: Bool, report: inout VerifyReport) throws -> Bool {
        report.segmentFiles += 1
        report.monthForms.append((month.description, form))
        // An archive is read through its frame index, decompressing each
        // frame in memory: nothing decompressed is written to disk.
        let file: any ReadableFile
        do {
            file = try SegmentFiles.openForReading(month, form: form, storage: storage, layout: layout, directoryID: directoryID)
        } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
            report.problems.append(
                .init(severity: .error, file: error.path ?? layout.archivePath(month), offset: error.offset, kind: "archive corruption", message: error.message)
            )
            return false
        }
        defer { file.close() }
        if form == .both { try checkBothForms(month, report: &report) }
        // The chain link first: without the month before it, a month's
        // records do not apply.
        guard checkLink(month, file: file, report: &report) else { return false }
        var index = MonthIndexBuilder(month: month)
        // No doublings of the month's arrays (fresh pages: Benchmarks/RESULTS.md, issue 13, session 12).
        index.reserve(events: SegmentFiles.estimatedRecords(segmentBytes: (try? file.size()) ?? 0))
        let savedEnd = savedOpenMonthIndexEnd(month, report: &report)
        guard let (scan, first, atSavedEnd) = try scanRecords(file, form: form, index: &index, savedEnd: savedEnd, report: &report) else { return false }
        checkOpenMonthIndex(month, savedEnd: savedEnd, sealed: scan.seal != nil, at: atSavedEnd, rootSoFar: scan.rootSoFar, report: &report)
        guard let seal = scan.seal else {
            if !isLast {
                report.problems.append(
                    .init(severity: .error, file: file.path, offset: nil, kind: "month not sealed", message: "\(month) is not sealed but later months exist"))
            }
            return true
        }
        previous = (month, seal.monthRoot)
        try checkSeal(seal, at: scan.sealOffset ?? 0, of: file.path, index: index, scan: scan, first: first, report: &report)
        report.sealedMonths.append((month.description, seal.monthRoot.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()))
        try checkMonthIndex(month, of: file.path, index: index, seal: seal, recordCount: scan.recordCount, report: &report)
        checkAccountCopy(month, form: form, seal: seal, segment: file, report: &report)
        return true
    }

    /// After the last month: the segments must hold every applied event.
    /// Returns the state they sum to, or nil when they differ from the log.
    func finish(report: inout VerifyReport) -> SegmentState? {
        Self.finish(feed: feed, cursor: cursor, mismatch: mismatch, state: state, layout: layout, report: &report)
    }

    static func finish(
        feed: AppliedFeed, cursor: Int, mismatch: Bool, state: SegmentState, layout: DataDirectoryLayout, report: inout VerifyReport
    ) -> SegmentState? {
        let appliedCount = feed.finalCount()
        let logClosedCleanly = feed.logClosedCleanly
        if !mismatch && cursor < appliedCount {
            report.problems.append(
                .init(
                    severity: logClosedCleanly ? .error : .warning, file: layout.segmentsDirectory, offset: nil, kind: "segments behind the log",
                    message: "the segments lack the last \(appliedCount - cursor) applied events"
                        + (logClosedCleanly ? " although the ledger was closed cleanly" : "; the next open re-files them from the WAL")))
        }
        return mismatch || cursor < appliedCount ? nil : state
    }

    private func checkBothForms(_ month: UTCMonth, report: inout VerifyReport) throws {
        report.problems.append(
            .init(
                severity: .warning, file: layout.archivePath(month), offset: nil, kind: "archival or restore interrupted",
                message: "\(month) has both a segment and an archive; run `ledgerctl archive` or `ledgerctl restore --month \(month)` to finish"))
        do {
            try SegmentArchiver.checkArchiveMatchesSegment(storage: storage, layout: layout, month: month, directoryID: directoryID)
        } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
            report.problems.append(
                .init(
                    severity: .error, file: error.path ?? layout.archivePath(month), offset: error.offset, kind: "archive differs from the segment",
                    message: error.message))
        }
    }

    private func checkLink(_ month: UTCMonth, file: any ReadableFile, report: inout VerifyReport) -> Bool {
        guard let linked = try? SegmentReader.readHeader(file: file),
            linked.previousMonth != previous?.month || linked.previousRoot != (previous?.root ?? SegmentFiler.zeroRoot)
        else { return true }
        report.problems.append(
            .init(
                severity: .error, file: file.path, offset: 40, kind: "month chain broken",
                message:
                    "\(month) links to \(linked.previousMonth.map { "\($0)" } ?? "no month") but the month before it on disk is \(previous.map { "\($0.month)" } ?? "none") (a month is missing or was replaced)"
            ))
        return false
    }

    /// Every record: its checksum, its place in the month's state and index,
    /// and its match with the log's next applied event. Nil when the month
    /// cannot be read or its history is inconsistent (reported). With
    /// `savedEnd` (an open month's saved index), also the index and holds
    /// as they stood there, and the month root so far (in the scan result).
    // Long: the scan's visit (count, saved point, state and index, the log) and its two failure reports.
    private mutating func scanRecords(
        _ file: any ReadableFile, form: SegmentForm, index: inout MonthIndexBuilder, savedEnd: Int?, report: inout VerifyReport
    ) throws -> (SegmentScanResult, first: (UInt64, UInt64)?, atSavedEnd: SavedIndexPoint?)? {
        let path = file.path
        var first: (UInt64, UInt64)?
        var seen = RecordsSeen()
        var atSavedEnd: SavedIndexPoint?
        var stateFailure: LedgerError?
        let scan: SegmentScanResult
        let hasher = savedEnd.map { _ in
            SegmentSeal.rootHasher(directoryID: directoryID, month: index.month, previousRoot: previous?.root ?? SegmentFiler.zeroRoot)
        }
        do {
            scan = try SegmentReader.scan(file: file, expectedDirectoryID: directoryID, recordHasher: hasher, rootSoFarAt: savedEnd) { record in
                report.segmentRecords += 1
                if first == nil { first = (record.header.lsn, record.header.timestamp) }
                if record.offset == savedEnd { atSavedEnd = SavedIndexPoint(index: index, holds: state.holds, records: seen) }
                seen.counted(record)
                if stateFailure == nil {
                    do {
                        try index.add(event: record.event, offset: record.offset, timestamp: record.header.timestamp, state: &state)
                    } catch let error as LedgerError {
                        stateFailure = LedgerError(.corruption, error.message, path: path, offset: record.offset)
                    }
                }
                compareWithTheLog(record, path: path, report: &report)
            }
        } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
            report.problems.append(
                .init(
                    severity: .error, file: error.path ?? path, offset: error.offset, kind: form == .archive ? "archive corruption" : "segment corruption",
                    message: error.message))
            return nil
        }
        if let stateFailure {
            report.problems.append(
                .init(severity: .error, file: path, offset: stateFailure.offset, kind: "segment history inconsistent", message: stateFailure.message))
            return nil
        }
        if scan.endOffset == savedEnd { atSavedEnd = SavedIndexPoint(index: index, holds: state.holds, records: seen) }
        return (scan, first, atSavedEnd)
    }

    private mutating func compareWithTheLog(_ record: SegmentRecord, path: String, report: inout VerifyReport) {
        guard !mismatch, record.header.lsn > feed.startLSNAtLeast else { return }
        if appliedAfterLSN == nil { appliedAfterLSN = feed.startAfterLSN() }
        guard record.header.lsn > appliedAfterLSN ?? .max else { return }
        if alone?.first == nil, alone != nil {
            let position = feed.firstPosition(atOrAfter: record.header.timestamp)
            applied = AppliedFeed.Reader(feed, from: position)
            cursor = position
            alone?.first = LogComparison.First(lsn: record.header.lsn, timestamp: record.header.timestamp, offset: record.offset, path: path)
            alone?.start = position
        }
        let fingerprint = Fingerprint.of(record.event, offset: 0, count: record.event.count)
        let expected = applied.next()
        guard let expected, expected.timestamp == record.header.timestamp, expected.lsn == record.header.lsn, expected.fingerprint == fingerprint else {
            mismatch = true
            let problem = LogComparison.mismatch(lsn: record.header.lsn, timestamp: record.header.timestamp, offset: record.offset, path: path, cursor: cursor)
            if alone != nil { alone?.mismatch = problem } else { report.problems.append(problem) }
            return
        }
        cursor += 1
        alone?.matched += 1
    }

    private mutating func checkSeal(
        _ seal: SegmentSeal, at sealOffset: Int, of path: String, index: MonthIndexBuilder, scan: SegmentScanResult, first: (UInt64, UInt64)?,
        report: inout VerifyReport
    ) throws {
        sealDiffers = true
        do {
            let expected = try SegmentFiler.makeSeal(
                index: index, state: state, recordCount: scan.recordCount, first: first ?? (0, 0), last: (scan.lastLSN, scan.lastTimestamp),
                previousMonth: seal.previousMonth, previousRoot: seal.previousRoot, monthRoot: seal.monthRoot)
            sealDiffers = expected != seal
            if sealDiffers {
                report.problems.append(
                    .init(
                        severity: .error, file: path, offset: sealOffset, kind: "seal differs from the month",
                        message: "the seal's totals, closing balances or open holds are not what the month's records sum to"))
            }
        } catch let error as LedgerError {
            report.problems.append(.init(severity: .error, file: path, offset: sealOffset, kind: "month unbalanced", message: error.message))
        }
    }

    private func checkMonthIndex(
        _ month: UTCMonth, of path: String, index: MonthIndexBuilder, seal: SegmentSeal, recordCount: Int, report: inout VerifyReport
    ) throws {
        let indexPath = layout.segmentIndexPath(month)
        guard storage.fileExists(indexPath) else {
            report.problems.append(
                .init(severity: .warning, file: indexPath, offset: nil, kind: "index missing", message: "the next open rebuilds it from the segment"))
            return
        }
        let indexFile = try storage.openFileForReading(indexPath)
        defer { indexFile.close() }
        let rebuilt: [UInt8]
        do {
            rebuilt = try MonthIndexFormat.encode(index, directoryID: directoryID, monthRoot: seal.monthRoot, recordCount: recordCount)
        } catch let error as LedgerError {
            report.problems.append(.init(severity: .error, file: path, offset: nil, kind: "segment history inconsistent", message: error.message))
            return
        }
        if let offset = try Self.firstDifference(indexFile, rebuilt) {
            report.problems.append(
                .init(
                    severity: .error, file: indexPath, offset: offset, kind: "index differs from the segment",
                    message: "the month index is not the index of its segment; delete the file and the next open rebuilds it"))
        }
    }

    /// The first offset where `file` differs from `expected` (or where the
    /// shorter one ends); nil when they are equal. Read in chunks: a month
    /// index is hundreds of MB, and a second copy of it in memory is what
    /// made verify fault in fresh pages for every month.
    static func firstDifference(_ file: any ReadableFile, _ expected: [UInt8]) throws -> Int? {
        let chunkBytes = 1 << 20
        let size = try file.size()
        let common = min(size, expected.count)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 16)
        defer { buffer.deallocate() }
        return try expected.withUnsafeBytes { wanted in
            var offset = 0
            while offset < common {
                let want = min(chunkBytes, common - offset)
                let got = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: offset)
                if memcmp(buffer.baseAddress!, wanted.baseAddress! + offset, got) != 0 {
                    return offset + (0..<got).first { buffer[$0] != wanted[offset + $0] }!
                }
                guard got == want else { return offset + got }  // the file ended early
                offset += got
            }
            return size == expected.count ? nil : common
        }
    }
}
