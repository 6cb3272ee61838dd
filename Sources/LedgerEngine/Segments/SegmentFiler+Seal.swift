// A sealed month's seal and index: the seal built from the month's index
// and the state at its end, the index written beside the segment, and the
// checks an open makes of both (SegmentFiler.swift files and seals).

extension SegmentFiler {
    /// A sealed month must name the sealed month before it and its root.
    func link(_ seal: SegmentSeal, month: UTCMonth, path: String) throws {
        let previous = sealedMonths.last
        guard seal.previousMonth == previous?.month, seal.previousRoot == (previous?.monthRoot ?? Self.zeroRoot) else {
            throw LedgerError(
                .corruption,
                "sealed month \(month) links to \(seal.previousMonth.map { "\($0)" } ?? "no month") but the latest earlier month on disk is \(previous.map { "\($0.month)" } ?? "none") (a month is missing, or was replaced); run `ledgerctl verify`",
                path: path)
        }
        guard seal.lastTimestamp > (previous?.lastTimestamp ?? 0) else {
            throw LedgerError(.corruption, "sealed month \(month) ends before the month before it", path: path)
        }
    }

    func indexIsUsable(_ month: UTCMonth, root: [UInt8]) -> Bool {
        let path = layout.segmentIndexPath(month)
        guard storage.fileExists(path) else {
            log("segments: index of \(month) is missing; rebuilding it from the segment")
            return false
        }
        do {
            _ = try MonthIndexFile(storage: storage, path: path, month: month, directoryID: directoryID, monthRoot: root)
            return true
        } catch {
            log("segments: index of \(month) is unusable (\(error)); rebuilding it from the segment")
            return false
        }
    }

    /// The seal of a month from its index and the ledger state at its end.
    /// Debits must equal credits per ledger over the month, or the segments
    /// are damaged (`corruption`).
    static func makeSeal(
        index: MonthIndexBuilder, state: SegmentState, recordCount: Int, first: (UInt64, UInt64), last: (UInt64, UInt64),
        previousMonth: UTCMonth?, previousRoot: [UInt8], monthRoot: [UInt8]
    ) throws -> SegmentSeal {
        let totals = index.totals.sorted { $0.ledger < $1.ledger }
        for total in totals where total.debitsPosted != total.creditsPosted {
            throw LedgerError(
                .corruption, "ledger \(total.ledger) moved \(total.debitsPosted) in debits but \(total.creditsPosted) in credits during \(index.month)")
        }
        return SegmentSeal(
            recordCount: UInt64(recordCount), firstLSN: first.0, lastLSN: last.0, firstTimestamp: first.1, lastTimestamp: last.1,
            previousMonth: previousMonth, previousRoot: previousRoot, monthRoot: monthRoot, totals: totals,
            accounts: index.sortedAccounts().map {
                SegmentAccount(id: $0.summary.id, ledger: $0.summary.ledger, flags: $0.summary.flags, balances: $0.summary.closing)
            },
            holds: state.holds.sorted { $0.key < $1.key }.map { (id: $0.key, hold: $0.value) })
    }

    /// A read-only filer leaves a missing or damaged month index as it is (the
    /// month's queries then refuse, naming the file) and reports it.
    func writeIndexUnlessReadOnly(_ index: MonthIndexBuilder, root: [UInt8], recordCount: Int) throws {
        guard !readOnly else {
            repairsNotPerformed.append(
                "\(layout.segmentIndexPath(index.month)): missing or damaged; not rebuilt (queries of \(index.month) refuse until a read-write open rebuilds it)"
            )
            return
        }
        try writeIndex(index, root: root, recordCount: recordCount)
    }

    /// Writes a sealed month's index now (at open: a missing or damaged
    /// one rebuilt); see `writeIndexFile`.
    func writeIndex(_ index: MonthIndexBuilder, root: [UInt8], recordCount: Int) throws {
        try Self.writeIndexFile(index, root: root, recordCount: recordCount, storage: storage, layout: layout, directoryID: directoryID)
        sealedReaders[index.month] = nil
    }

    /// Writes a sealed month's index: temporary file, fdatasync, rename,
    /// fsync of the directory. Touches no filer state: a month sealed while
    /// filing has it written on a thread of its own (SealedIndexWriter.swift).
    static func writeIndexFile(
        _ index: MonthIndexBuilder, root: [UInt8], recordCount: Int, storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8]
    ) throws {
        let path = layout.segmentIndexPath(index.month)
        let temporary = DataDirectoryLayout.temporaryPath(for: path)
        let bytes = try MonthIndexFormat.encode(index, directoryID: directoryID, monthRoot: root, recordCount: recordCount)
        if storage.fileExists(temporary) { try storage.removeFile(temporary) }
        let file = try storage.openFile(temporary, create: true)
        defer { file.close() }
        try file.write(bytes, at: 0)
        try file.sync()
        CrashPoints.reached("seal.indexTemporaryWritten")
        try storage.rename(temporary, to: path)
        try storage.syncDirectory(layout.segmentsDirectory)
        CrashPoints.reached("seal.indexRenamed")
    }
}
