// The open month's index saved at a clean close (Specs/open-month-index-format.md).
//
// Why: re-indexing the open month at open (4.2M events at 50M entries) was
// the longer of a restart's two threads, 2.5-3.9 s (Benchmarks/RESULTS.md,
// issue 13, target 3). `Ledger.close` now saves the builder's tables and
// the holds open at the segment's durable end; the next open reads them and
// indexes only what was filed after (nothing, after a clean close).
//
// Why it can be trusted: the file is derived, CRC-checked per section, and
// an open still reads every record of the segment (its CRC, the order
// checks), comparing each record before the saved end with the saved
// index's offset and timestamp for it, the SHA-256 month root so far with
// the saved one (an edit that recomputed record CRCs changes it), and each
// account's opening balances with the sealed months' closing ones. Any
// difference: a log line and the month indexed from its records, as before.
// `verify` compares the file byte for byte with the index it rebuilds.
//
// Lifetime: it stays until the month is sealed (sealing deletes every saved
// index), so after a crash the next open still uses the last clean close's
// and indexes only what was filed after it. A segment only grows past the
// saved end: recovery cuts only unsynced bytes, beyond the durable frontier,
// and the saved end was that frontier when the file was written.

struct OpenMonthIndexMismatch: Error, CustomStringConvertible {
    var description: String
}

/// Checks the records an open scan finds before a saved index's end
/// against that index (one record at a time, in the scan's visit).
struct SavedRecordsCheck {
    let saved: OpenMonthIndexFormat.Header?
    /// The saved index's records; released at the saved end, before the
    /// builder appends to its own reference (no copy of the array).
    private var records: EventArray<AccountEventRef>
    private(set) var count = 0
    /// The scan went on past the saved end (so it must have met it exactly).
    private var pastEnd = false

    init(_ saved: OpenMonthIndexFormat.Header?, records: EventArray<AccountEventRef>) {
        self.saved = saved
        self.records = saved == nil ? EventArray() : records
    }

    /// True when `record` lies before the saved end (checked, not to be
    /// indexed again); throws when it is not the saved index's record.
    mutating func isSaved(_ record: SegmentRecord) throws -> Bool {
        guard let saved, !pastEnd else { return false }
        guard record.offset < saved.coveredEndOffset else {
            guard record.offset == saved.coveredEndOffset, count == saved.recordCount else {
                throw OpenMonthIndexMismatch(description: "record \(count) at \(record.offset) does not start where the saved index ends")
            }
            pastEnd = true
            records = EventArray()
            return false
        }
        guard count < records.count, records[count].offset == UInt64(record.offset), records[count].timestamp == record.header.timestamp else {
            throw OpenMonthIndexMismatch(description: "record \(count) at \(record.offset) is not the saved index's")
        }
        if count == 0, record.header.lsn != saved.first.lsn || record.header.timestamp != saved.first.timestamp {
            throw OpenMonthIndexMismatch(description: "the month's first record is not the saved index's")
        }
        count += 1
        if count == saved.recordCount, record.header.lsn != saved.last.lsn || record.header.timestamp != saved.last.timestamp {
            throw OpenMonthIndexMismatch(description: "the record at the saved end is not the saved index's")
        }
        return true
    }

    /// After the scan: it must have found every saved record, and their
    /// bytes must hash to the saved root so far (an edit that kept offsets,
    /// timestamps and record CRCs changes it). A sealed month's root was
    /// checked against all its records by the scan itself.
    mutating func finish(_ writer: SegmentWriter) throws {
        records = EventArray()
        guard let saved else { return }
        guard count == saved.recordCount else {
            throw OpenMonthIndexMismatch(description: "the segment holds \(count) of the saved index's \(saved.recordCount) records")
        }
        guard writer.seal != nil || writer.scannedRootSoFar == saved.rootSoFar else {
            throw OpenMonthIndexMismatch(description: "the month's records before the saved end do not hash to the saved root (SHA-256)")
        }
    }
}

extension OpenMonthIndexFile.Saved {
    /// The segment state at the saved end: the state at the month's start
    /// (from the seals) with every account the month touched as the month
    /// left it, and the holds open then. Throws when an account opens the
    /// month otherwise than the sealed months close it.
    func state(after start: SegmentState) throws -> SegmentState {
        var state = start
        for summary in index.t.summaries {
            let before = start.account(summary.id)
            guard (before?.balances ?? AccountBalances()) == summary.opening, (before?.ledger ?? summary.ledger) == summary.ledger else {
                throw OpenMonthIndexMismatch(description: "account \(summary.id) opens the month otherwise than the sealed months close it")
            }
            state.restore(SegmentAccount(id: summary.id, ledger: summary.ledger, flags: summary.flags, balances: summary.closing))
        }
        state.restoreHolds(holds)
        return state
    }
}

extension SegmentFiler {
    /// Saves the open month's index at a clean close, after `sync` (every
    /// filed record durable). Nothing when no month is open or read-only.
    public func saveOpenMonthIndex() throws {
        guard !readOnly, let writer = current, writer.seal == nil, writer.recordCount > 0, let index = currentIndex else { return }
        precondition(writer.frontier.durableEndOffset == writer.endOffset, "saving the open month's index before its records are synced")
        let covered = OpenMonthIndexFile.Covered(
            endOffset: writer.endOffset, rootSoFar: try writer.rootSoFar(), recordCount: writer.recordCount, first: (writer.firstLSN, writer.firstTimestamp),
            last: (writer.lastLSN, writer.lastTimestamp))
        try OpenMonthIndexFile.write(
            index, holds: state.holds, covered: covered, directoryID: directoryID, storage: storage, path: layout.openMonthIndexPath(index.month),
            directory: layout.segmentsDirectory)
    }

    /// The month's saved index, when there is one and it reads; a damaged
    /// one is logged and ignored (the month is indexed from its records).
    func savedOpenMonthIndex(_ month: UTCMonth, reserveEvents: Int) -> OpenMonthIndexFile.Saved? {
        let path = layout.openMonthIndexPath(month)
        guard storage.fileExists(path) else { return nil }
        do {
            return try OpenMonthIndexFile.read(storage: storage, path: path, month: month, directoryID: directoryID, reserveEvents: reserveEvents)
        } catch {
            log("segments: the saved index of the open month \(month) is unusable (\(error)); indexing the month from its records")
            return nil
        }
    }

    /// Deletes every saved open-month index (when a month is sealed: its
    /// own is stale, and any other is a leftover of a crash).
    static func removeSavedOpenMonthIndexes(storage: any Storage, layout: DataDirectoryLayout) throws {
        let names = try storage.listDirectory(layout.segmentsDirectory).filter { DataDirectoryLayout.month(ofOpenMonthIndexFileName: $0) != nil }
        guard !names.isEmpty else { return }
        for name in names { try storage.removeFile(layout.segmentsDirectory + "/" + name) }
        try storage.syncDirectory(layout.segmentsDirectory)
    }
}
