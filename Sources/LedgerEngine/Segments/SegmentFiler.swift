// Files every applied event into the segment of its UTC month, in commit
// order, indexes it, and seals each month when filing moves past it. Owned
// by whoever owns the WAL writer (the durability thread, or the engine
// during recovery); queries run on the apply thread while no group is in
// flight, so they never race with filing.
//
// Segments are derived from the WAL: filing happens after a group is durable,
// segments are synced at index checkpoints and at close, and after a crash
// recovery re-files whatever a segment lacks. Event timestamps are unique and
// strictly increasing across the log, so "already filed" is simply
// `timestamp <= lastFiledTimestamp`.
//
// Opening: sealed months are not rescanned. The ledger state at the start of
// the open month comes from the seals (each lists the accounts it touched at
// month end and the holds open then); the open month is scanned and indexed
// in memory. A sealed month whose index file is missing or damaged is
// rescanned and its index rewritten (with a log line).

/// A sealed month as the filer tracks it.
public struct SealedMonth: Sendable, Equatable {
    public var month: UTCMonth
    public var monthRoot: [UInt8]
    public var lastLSN: UInt64
    public var lastTimestamp: UInt64
    public var form: SegmentForm
}

public final class SegmentFiler {
    let storage: any Storage
    let layout: DataDirectoryLayout
    let directoryID: [UInt8]
    let log: (String) -> Void
    /// Every account and open hold, as of the last filed event.
    public internal(set) var state = SegmentState()
    public private(set) var sealedMonths: [SealedMonth] = []
    /// The month being appended to and its in-memory index. Only one is
    /// open: months only move forward.
    private(set) var current: SegmentWriter?
    internal(set) var currentIndex: MonthIndexBuilder?
    public internal(set) var eventsFiled = 0
    /// A read-only filer (queries on a directory that must not change) never
    /// writes: what a read-write open would repair or re-file is counted and
    /// reported instead.
    public let readOnly: Bool
    /// Applied events of the WAL that the segments lack and a read-only filer
    /// could not file (the directory was not closed cleanly).
    public internal(set) var eventsNotFiled = 0
    /// Derived files a read-only open found missing or damaged and left as
    /// they are (a read-write open rebuilds them), and torn tails it did not
    /// truncate: one line each.
    public internal(set) var repairsNotPerformed: [String] = []
    /// Readers of sealed months, opened on first use.
    var sealedReaders: [UTCMonth: SealedMonthReader] = [:]
    /// History pages ask the kernel to read their records ahead (a hint;
    /// `Ledger.Options.historyReadAhead`).
    public var historyReadAhead = true
    /// Told of every sealed month and of filing progress, for lookups of
    /// ids evicted from the state machine's resident window.
    var evicted: EvictedEntries? {
        didSet {
            guard let evicted else { return }
            evicted.use(indexWrites)
            indexWrites.onWritten = { [weak evicted] in evicted?.indexWritten() }
            for month in sealedMonths { evicted.register(month) }
            evicted.filed(throughNs: lastFiledTimestamp)
            // Every month before a deferred one is sealed: a lookup whose
            // window starts there need not wait for that month's scan.
            if let deferredMonth { evicted.filed(throughNs: deferredMonth.startNs) }
        }
    }

    /// Writes each sealed month's index off the filing thread; readers of a
    /// sealed month's index wait for it (`awaitIndexWrites`).
    let indexWrites = SealedIndexWriter()

    /// Returns once no sealed month's index is being written; throws a
    /// failed write's error (the engine stops on it).
    public func awaitIndexWrites() throws { try indexWrites.awaitWritten() }

    /// Called (on the writer's thread) when a sealed month's index could not
    /// be written: the engine stops. Set before filing starts.
    public var onIndexWriteFailure: (@Sendable (LedgerError) -> Void)? {
        get { indexWrites.onFailure }
        set { indexWrites.onFailure = newValue }
    }

    /// Records of the open month the saved index covered at open (0: none
    /// was used; SegmentFiler+OpenMonthIndex.swift).
    public private(set) var recordsFromSavedIndex = 0
    /// The open month when `init` was told to defer it: not yet scanned and
    /// indexed (`openDeferredMonth` does that). Every month before it is
    /// sealed: a month's segment is created only after the one before it
    /// was sealed, and `init` refuses an unsealed month that is not the last.
    public private(set) var deferredMonth: UTCMonth?
    /// Filing's prefetch cursor over a batch (kept: it holds a small ring).
    var lookahead = FilingLookahead.batchEvents()

    /// Opens the segments: the sealed months from their seals, and the open
    /// month scanned and indexed, unless `deferringOpenMonth` (then
    /// `openDeferredMonth()` must follow before anything is filed or read:
    /// recovery replays the WAL meanwhile, Engine/Recovery.swift).
    public init(
        storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], readOnly: Bool = false, deferringOpenMonth: Bool = false,
        log: @escaping (String) -> Void = { _ in }
    ) throws {
        self.readOnly = readOnly
        self.storage = storage
        self.layout = layout
        self.directoryID = directoryID
        self.log = log
        let months = try SegmentFiles.months(storage: storage, layout: layout)
        for (i, (month, form)) in months.enumerated() {
            let path = layout.segmentPath(month)
            let file = try SegmentFiles.openForReading(month, form: form, storage: storage, layout: layout, directoryID: directoryID)
            defer { file.close() }
            if form == .both {
                log(
                    "segments: \(month) has both a segment and an archive (an archival or restore was interrupted); reading the segment. Run `ledgerctl archive` or `ledgerctl restore` again to finish"
                )
            }
            if let seal = try SegmentReader.readSeal(file: file, expectedDirectoryID: directoryID) {
                try link(seal, month: month, path: file.path)
                if indexIsUsable(month, root: seal.monthRoot) {
                    state.restore(sealed: seal)
                } else {
                    // Rebuild the index by rescanning the month from the state at its start.
                    var index = MonthIndexBuilder(month: month)
                    index.reserve(events: Int(clamping: seal.recordCount))
                    _ = try SegmentReader.scan(file: file, expectedDirectoryID: directoryID) { record in
                        try self.add(record.event, offset: record.offset, timestamp: record.header.timestamp, to: &index, path: file.path)
                    }
                    try writeIndexUnlessReadOnly(index, root: seal.monthRoot, recordCount: Int(seal.recordCount))
                }
                sealedMonths.append(SealedMonth(month: month, monthRoot: seal.monthRoot, lastLSN: seal.lastLSN, lastTimestamp: seal.lastTimestamp, form: form))
                continue
            }
            guard form == .segment else {
                throw LedgerError(.corruption, "the archive of \(month) holds no sealed month; run `ledgerctl verify`", path: layout.archivePath(month))
            }
            if deferringOpenMonth && i == months.count - 1 {
                deferredMonth = month
                return
            }
            if try !openUnsealedMonth(month), i != months.count - 1 {
                throw LedgerError(.corruption, "month \(month) is not sealed but later months exist; run `ledgerctl verify`", path: path)
            }
        }
    }

    /// Scans and indexes the month `init` deferred; then tells `evicted`
    /// how far the segments are filed.
    public func openDeferredMonth() throws {
        guard let month = deferredMonth else { return }
        deferredMonth = nil
        _ = try openUnsealedMonth(month)
        if let sealed = sealedMonths.last, sealed.month == month { evicted?.register(sealed) }
        evicted?.filed(throughNs: lastFiledTimestamp)
    }

    /// Scans a month without a readable seal and indexes it. Returns false
    /// when it is open (it becomes `current`), true when the scan found it
    /// sealed after all (its frontier was not yet written). The index saved
    /// at the last clean close (SegmentFiler+OpenMonthIndex.swift), when
    /// there is one and it describes the segment, replaces indexing the
    /// records it covers.
    private func openUnsealedMonth(_ month: UTCMonth) throws -> Bool {
        let reserveEvents = try SegmentFiles.estimatedRecords(storage: storage, path: layout.segmentPath(month))
        let atMonthStart = state
        var sealedAfterAll: Bool?
        if let saved = savedOpenMonthIndex(month, reserveEvents: reserveEvents) {
            do {
                state = try saved.state(after: atMonthStart)
                var index = saved.index
                index.link(to: state)
                sealedAfterAll = try openUnsealedMonth(month, index: index, resumingAfter: saved.header)
                recordsFromSavedIndex = saved.header.recordCount
                // Checked: its pages need not stay resident (SavedEventArray.swift).
                saved.bytes.releaseResidentPages()
            } catch let mismatch as OpenMonthIndexMismatch {
                log("segments: the saved index of the open month \(month) does not describe its segment (\(mismatch)); indexing the month from its records")
                state = atMonthStart
            }
        }
        if sealedAfterAll == nil {
            var index = MonthIndexBuilder(month: month)
            index.reserve(events: reserveEvents)
            sealedAfterAll = try openUnsealedMonth(month, index: index, resumingAfter: nil)
        }
        return sealedAfterAll!
    }

    /// Scans the month's segment into `index`: every record from the start
    /// when `saved` is nil, else only those after the saved end (the ones
    /// before it are checked against the saved index, besides their CRCs
    /// and the month root's SHA-256; any difference throws
    /// `OpenMonthIndexMismatch` before a record is indexed twice).
    // Long: the scan's visit (saved part, then lookahead and indexing) and what the scan found.
    private func openUnsealedMonth(_ month: UTCMonth, index start: MonthIndexBuilder, resumingAfter saved: OpenMonthIndexFormat.Header?) throws -> Bool {
        let path = layout.segmentPath(month)
        var index = start
        let previous = sealedMonths.last
        var lookahead = FilingLookahead.segmentRecords()
        var first = true
        var checked = SavedRecordsCheck(saved, records: start.t.records)
        // Moved out for the scan, as `file(groupPayload:lsn:)` does.
        var state = SegmentState()
        swap(&state, &self.state)
        defer { swap(&state, &self.state) }
        let writer = try SegmentWriter(
            storage: storage, layout: layout, month: month, directoryID: directoryID, previousMonth: previous?.month,
            previousRoot: previous?.monthRoot ?? Self.zeroRoot, readOnly: readOnly, rootSoFarAt: saved?.coveredEndOffset
        ) { record in
            if try checked.isSaved(record) { return }
            if first {
                lookahead.restart(at: record.rest) { state.prefetch($0, index: &index) }
                first = false
            } else {
                state.prefetch(lookahead.advance(), index: &index)
            }
            try Self.add(record.event, offset: record.offset, timestamp: record.header.timestamp, to: &index, state: &state, path: path)
        }
        try checked.finish(writer)
        if let torn = writer.tornTailNotTruncated {
            repairsNotPerformed.append("\(path): unsynced bytes after offset \(torn) (never acknowledged) were not truncated")
        }
        if let seal = writer.seal {  // sealed, but its frontier was not yet written
            if !indexIsUsable(month, root: seal.monthRoot) { try writeIndexUnlessReadOnly(index, root: seal.monthRoot, recordCount: writer.recordCount) }
            sealedMonths.append(SealedMonth(month: month, monthRoot: seal.monthRoot, lastLSN: seal.lastLSN, lastTimestamp: seal.lastTimestamp, form: .segment))
            return true
        }
        current = writer
        currentIndex = index
        return false
    }

    static let zeroRoot = [UInt8](repeating: 0, count: 32)

    /// Months that have a segment or an archive, oldest first.
    static func months(storage: any Storage, layout: DataDirectoryLayout) throws -> [UTCMonth] {
        try SegmentFiles.months(storage: storage, layout: layout).map(\.month)
    }

    /// Records that a sealed month now has another form (after archival or
    /// restore) and drops its cached reader, so the next query opens it anew.
    func setForm(_ form: SegmentForm, of month: UTCMonth) {
        guard let i = sealedMonths.firstIndex(where: { $0.month == month }) else { preconditionFailure("\(month) is not sealed") }
        sealedMonths[i].form = form
        sealedReaders[month] = nil
        evicted?.register(sealedMonths[i])
    }

    private func add(_ event: UnsafeRawBufferPointer, offset: Int, timestamp: UInt64, to index: inout MonthIndexBuilder, path: @autoclosure () -> String) throws
    {
        try Self.add(event, offset: offset, timestamp: timestamp, to: &index, state: &state, path: path())
    }

    static func add(
        _ event: UnsafeRawBufferPointer, offset: Int, timestamp: UInt64, to index: inout MonthIndexBuilder, state: inout SegmentState,
        path: @autoclosure () -> String
    ) throws {
        do {
            try index.add(event: event, offset: offset, timestamp: timestamp, state: &state)
        } catch let error as LedgerError {
            throw LedgerError(.corruption, "\(error.message); run `ledgerctl verify`", path: path(), offset: offset)
        }
    }

    /// The timestamp of the last event filed.
    public var lastFiledTimestamp: UInt64 { max(current?.lastTimestamp ?? 0, sealedMonths.last?.lastTimestamp ?? 0) }

    /// Everything up to this LSN is in a segment (durable once synced).
    public var lastFiledLSN: UInt64 { max(current?.lastLSN ?? 0, sealedMonths.last?.lastLSN ?? 0) }

    /// Everything up to this LSN is in a synced segment, without syncing:
    /// the open month's frontier (written by each sync, which runs between
    /// groups), else the sealed months. A group that straddles the month
    /// end counts only once the open month's part is synced too.
    public var durableFiledLSN: UInt64 {
        if let current, current.frontier.lastLSN > 0 { return current.frontier.lastLSN }
        guard let sealed = sealedMonths.last else { return 0 }
        if let current, current.recordCount > 0, current.firstLSN == sealed.lastLSN { return sealed.lastLSN - 1 }
        return sealed.lastLSN
    }

    /// The writer of the timestamp's month (sealing the open month first when
    /// it is over); `currentIndex` is that month's index afterwards.
    func writer(for timestamp: UInt64) throws -> SegmentWriter {
        if let current, current.header.month.contains(timestamp) { return current }
        let month = UTCMonth(containing: timestamp)
        // The month before is the best guess of this one's size.
        let previousRecords = current?.recordCount ?? 0
        if let current {
            precondition(current.header.month < month, "filing went back from \(current.header.month) to \(month)")
            try sealCurrentMonth()
        }
        let previous = sealedMonths.last
        let next = try SegmentWriter(
            storage: storage, layout: layout, month: month, directoryID: directoryID, previousMonth: previous?.month,
            previousRoot: previous?.monthRoot ?? Self.zeroRoot)
        precondition(next.recordCount == 0, "a new month's segment already holds records")
        current = next
        currentIndex = MonthIndexBuilder(month: month)
        currentIndex!.reserve(events: previousRecords + previousRecords / 4)
        return next
    }

    /// Seals the open month (the month is over: a later month's event is
    /// being filed): seal record and sync here, then the index file on a
    /// thread of its own (SealedIndexWriter.swift), and the saved open-month
    /// index removed after it. Debits must equal credits per ledger over the
    /// month, or the segments are damaged.
    func sealCurrentMonth() throws {
        guard let writer = current, let index = currentIndex else { return }
        var sealRoot: [UInt8] = []
        do {
            try writer.seal { root in
                sealRoot = root
                return try Self.makeSeal(
                    index: index, state: state, recordCount: writer.recordCount, first: (writer.firstLSN, writer.firstTimestamp),
                    last: (writer.lastLSN, writer.lastTimestamp), previousMonth: writer.previousMonth, previousRoot: writer.previousRoot, monthRoot: root)
            }
        } catch let error as LedgerError where error.path == nil {
            throw LedgerError(error.code, error.message, path: writer.path)
        }
        let (storage, layout, directoryID, recordCount, root) = (storage, layout, directoryID, writer.recordCount, sealRoot)
        currentIndex = nil  // handed over: the writer's thread is the builder's only user
        try indexWrites.submit(index.month) {
            try Self.writeIndexFile(index, root: root, recordCount: recordCount, storage: storage, layout: layout, directoryID: directoryID)
            try Self.removeSavedOpenMonthIndexes(storage: storage, layout: layout)
        }
        sealedReaders[index.month] = nil
        sealedMonths.append(SealedMonth(month: index.month, monthRoot: sealRoot, lastLSN: writer.lastLSN, lastTimestamp: writer.lastTimestamp, form: .segment))
        evicted?.register(sealedMonths.last!)
        current = nil
    }

    /// Makes everything filed durable (records, then the durable frontier).
    public func sync() throws {
        try current?.sync()
    }
}
