// History, balance-as-of and lookup through the month indexes: each query
// reads only the account's refs in the months it spans, replays at most
// `MonthIndex.checkpointInterval − 1` events to reach a balance inside a
// month, and reads the records it returns. Open and sealed months answer
// through the same `MonthIndexReading` interface.
//
// `SegmentHistory` (a full scan) is the oracle these are tested against.

/// A sealed month's segment and index, for queries.
final class SealedMonthReader {
    let index: MonthIndexFile
    /// The segment, or the archive read as the segment.
    let file: any ReadableFile
    let seed: UInt32
    let end: Int
    /// The month's account-ordered copy, when it has one (built in the
    /// background after the seal; none once archived).
    let copy: AccountCopyFile?

    /// `index`: the month's index when the caller has it open already.
    init(storage: any Storage, layout: DataDirectoryLayout, sealed: SealedMonth, directoryID: [UInt8], index: MonthIndexFile? = nil) throws {
        self.index =
            try index
            ?? MonthIndexFile(
                storage: storage, path: layout.segmentIndexPath(sealed.month), month: sealed.month, directoryID: directoryID, monthRoot: sealed.monthRoot)
        file = try SegmentFiles.openForReading(sealed.month, form: sealed.form, storage: storage, layout: layout, directoryID: directoryID)
        do {
            // Before the first answer from this month in this process.
            try SegmentReader.checkMonthRoot(file: file, expectedDirectoryID: directoryID, expectedRoot: sealed.monthRoot, month: sealed.month)
            let header = try SegmentReader.readHeader(file: file)
            seed = header.recordSeed
            end = try file.size()
            let copyPath = layout.accountCopyPath(sealed.month)
            copy =
                sealed.form == .segment && storage.fileExists(copyPath)
                ? try AccountCopyFile(
                    storage: storage, path: copyPath, month: sealed.month, directoryID: directoryID, monthRoot: sealed.monthRoot,
                    refCount: self.index.refCount, seed: seed) : nil
        } catch {
            file.close()
            throw error
        }
    }

    deinit { file.close() }

    func readEvent(at offset: Int) throws -> (header: SegmentRecordHeader, event: [UInt8]) {
        try SegmentReader.readRecord(file: file, at: offset, seed: seed, end: end)
    }
}

extension SegmentFiler {
    /// A month's index and record reader, open or sealed.
    func month(_ month: UTCMonth) throws -> (index: any MonthIndexReading, read: (Int) throws -> (header: SegmentRecordHeader, event: [UInt8]))? {
        if let current, let currentIndex, current.header.month == month {
            return (currentIndex, { try current.readEvent(at: $0) })
        }
        guard let reader = try sealedReader(month) else { return nil }
        return (reader.index, { try reader.readEvent(at: $0) })
    }

    /// Bytes read ahead per record of a history page: the record header and
    /// a two-posting entry fit.
    static let readAheadBytesPerRecord = 512

    /// Asks the kernel to start reading every record of a page at once, so
    /// a page whose records are not cached costs about one disk round trip
    /// instead of one per record (measured in Benchmarks/RESULTS.md). The
    /// open month is being written and mostly cached, so only when
    /// `openMonth`: a page that runs on into it from an earlier month reads
    /// its oldest records, the least likely cached (one after another, they
    /// were the p99 of issue 13's cold pages, session 13); a hint per
    /// record on every open-month page would cost a syscall each when
    /// cached. An archive's frames are read whole.
    private func readAhead(_ refs: [AccountEventRef], in month: UTCMonth, openMonth: Bool = false) throws {
        guard historyReadAhead, refs.count > 1 else { return }
        if let current, current.header.month == month {
            guard openMonth else { return }
            for ref in refs { current.adviseWillNeed(offset: Int(ref.offset), count: Self.readAheadBytesPerRecord) }
            return
        }
        guard let reader = try sealedReader(month) else { return }
        for ref in refs { reader.file.adviseWillNeed(offset: Int(ref.offset), count: Self.readAheadBytesPerRecord) }
    }

    /// The records of the account's events `range` in a sealed month, by
    /// segment offset, from the month's account-ordered copy (one read of
    /// their offsets, one of the records); without a copy, or for a run too
    /// long for one read, none: the kernel is asked to read the segment's
    /// records ahead instead (`readAhead`, with `openMonth`).
    private func prefetch(
        _ summary: MonthAccount, _ range: Range<Int>, of index: any MonthIndexReading, in month: UTCMonth, openMonth: Bool = false
    ) throws -> [UInt64: SegmentRecordRead] {
        let refs = try index.eventRefs(of: summary, range)
        guard !refs.isEmpty else { return [:] }
        if current?.header.month != month, let copy = try sealedReader(month)?.copy {
            let copied = summary.eventRefStart + range.lowerBound..<summary.eventRefStart + range.upperBound
            if let records = try copy.records(copied, timestamps: refs.map(\.timestamp)) {
                return Dictionary(zip(refs.map(\.offset), records)) { first, _ in first }
            }
        }
        try readAhead(refs, in: month, openMonth: openMonth)
        return [:]
    }

    /// Forgets the month's cached reader: the next query opens the month
    /// again (and finds a copy built meanwhile).
    func dropReader(of month: UTCMonth) { sealedReaders[month] = nil }

    /// The reader of a sealed month, opened on first use.
    private func sealedReader(_ month: UTCMonth) throws -> SealedMonthReader? {
        if let cached = sealedReaders[month] { return cached }
        guard let sealed = sealedMonths.first(where: { $0.month == month }) else { return nil }
        let reader = try SealedMonthReader(storage: storage, layout: layout, sealed: sealed, directoryID: directoryID)
        sealedReaders[month] = reader
        return reader
    }

    /// Months with a segment, oldest first (sealed, then the open one).
    var filedMonths: [UTCMonth] { sealedMonths.map(\.month) + (current.map { [$0.header.month] } ?? []) }

    /// The account's events with `fromNs <= timestamp <= toNs` (and after
    /// `afterNs`, the previous page's cursor), oldest first, at most `limit`,
    /// each with the balances after it.
    public func history(account: UInt128, fromNs: UInt64 = 0, toNs: UInt64 = .max, afterNs: UInt64? = nil, limit: Int) throws -> HistoryPage {
        precondition(limit >= 1, "limit \(limit)")
        let start = max(fromNs, afterNs.map { $0 &+ 1 } ?? 0)
        var items: [HistoryItem] = []
        guard start <= toNs, afterNs != .max else { return HistoryPage(items: [], nextCursor: nil) }
        for month in filedMonths where month.next.startNs > start && month.startNs <= toNs {
            guard let (index, readSegment) = try self.month(month), let summary = try index.account(account) else { continue }
            // The copy's offsets of the account's refs, asked for beside its
            // refs and checkpoints (one disk round trip, not two).
            if current?.header.month != month, let copy = try sealedReader(month)?.copy {
                copy.adviseOffsets(of: summary.eventRefStart..<(summary.eventRefStart + summary.eventCount))
            }
            var k = try index.firstEvent(of: summary, atOrAfter: start)
            guard k < summary.eventCount else { continue }
            // The records replayed to reach event k and those of the page,
            // asked for at once: one disk round trip when not cached.
            var readAheadEnd = min(summary.eventCount, k + limit - items.count + 1)
            let replayStart = k / MonthIndex.checkpointInterval * MonthIndex.checkpointInterval
            let continued = !items.isEmpty  // from an earlier month
            var fetched = try prefetch(summary, replayStart..<readAheadEnd, of: index, in: month, openMonth: continued)
            let read = { (offset: Int) in try fetched[UInt64(offset)] ?? readSegment(offset) }
            var balances = try balancesBefore(event: k, of: summary, in: index, read: read)
            while k < summary.eventCount {
                let refs = try index.eventRefs(of: summary, k..<min(summary.eventCount, k + limit - items.count + 1))
                if k + refs.count > readAheadEnd {
                    fetched.merge(try prefetch(summary, readAheadEnd..<(k + refs.count), of: index, in: month, openMonth: continued)) { old, _ in old }
                    readAheadEnd = k + refs.count
                }
                for ref in refs {
                    guard ref.timestamp <= toNs else { return HistoryPage(items: items, nextCursor: nil) }
                    if items.count == limit { return HistoryPage(items: items, nextCursor: items.last!.timestamp) }
                    if let item = try replay(ref, of: summary, in: month, balances: &balances, read: read) { items.append(item) }
                    k += 1
                }
            }
        }
        return HistoryPage(items: items, nextCursor: nil)
    }

    /// The account's balances after every event with timestamp ≤ `asOfNs`
    /// (zero before its first event).
    public func balance(account: UInt128, asOfNs: UInt64) throws -> AccountBalances {
        for month in filedMonths.reversed() where month.startNs <= asOfNs {
            guard let (index, readSegment) = try self.month(month), let summary = try index.account(account) else { continue }
            guard month.contains(asOfNs) else { return summary.closing }  // a later month: its end is before asOfNs
            let k = try index.firstEvent(of: summary, atOrAfter: asOfNs &+ 1)  // events ≤ asOfNs: [0, k)
            if k == summary.eventCount { return summary.closing }
            // The replay from the checkpoint, in one read of a sealed month's copy.
            let replayStart = k / MonthIndex.checkpointInterval * MonthIndex.checkpointInterval
            let fetched = try prefetch(summary, replayStart..<k, of: index, in: month)
            return try balancesBefore(event: k, of: summary, in: index) { try fetched[UInt64($0)] ?? readSegment($0) }
        }
        return AccountBalances()
    }

    /// The record of the applied entry with this id, from any month. The
    /// open month has no id table (filing does not hash ids): the caller
    /// passes the entry's timestamp from the state machine, if it knows the
    /// id, and the record is found by timestamp. Sealed months answer
    /// through their bloom filters and id tables.
    public func lookup(entryID id: UInt128, openMonthTimestamp: UInt64?) throws -> (timestamp: UInt64, lsn: UInt64, entry: NewEntry, position: SegmentPosition)?
    {
        func found(_ month: UTCMonth, _ offset: Int, _ read: (Int) throws -> (header: SegmentRecordHeader, event: [UInt8])) throws -> (
            timestamp: UInt64, lsn: UInt64, entry: NewEntry, position: SegmentPosition
        ) {
            let (header, event) = try read(offset)
            guard case .createEntry(let entry) = event.withUnsafeBytes({ EventBatchReader.decode($0, at: 0) }), entry.id == id else {
                throw LedgerError(
                    .corruption, "the index of \(month) points entry \(id) at a record that is not that entry", path: layout.segmentIndexPath(month),
                    offset: offset)
            }
            return (header.timestamp, header.lsn, entry, SegmentPosition(month: month, offset: offset))
        }
        if let timestamp = openMonthTimestamp, let current, let currentIndex, current.header.month.contains(timestamp),
            let offset = currentIndex.recordOffset(timestamp: timestamp)
        {
            return try found(current.header.month, offset) { try current.readEvent(at: $0) }
        }
        for sealed in sealedMonths.reversed() {
            guard let reader = try sealedReader(sealed.month), let offset = try reader.index.entryOffset(id) else { continue }
            return try found(sealed.month, offset) { try reader.readEvent(at: $0) }
        }
        return nil
    }

    /// Balances of the account before its event `k` in this month: the
    /// nearest checkpoint (or the month's opening), then replay.
    private func balancesBefore(
        event k: Int, of summary: MonthAccount, in index: any MonthIndexReading, read: (Int) throws -> (header: SegmentRecordHeader, event: [UInt8])
    ) throws -> AccountBalances {
        let interval = MonthIndex.checkpointInterval
        let j = k / interval  // checkpoint j − 1 holds the balances after event j × interval − 1
        var balances = j == 0 ? summary.opening : try index.checkpoint(of: summary, j - 1)
        for ref in try index.eventRefs(of: summary, (j * interval)..<k) {
            _ = try replay(ref, of: summary, in: index.month, balances: &balances, read: read)
        }
        return balances
    }

    /// Applies one of the account's events to `balances`; the history item,
    /// or nil for account creation and closing.
    private func replay(
        _ ref: AccountEventRef, of summary: MonthAccount, in month: UTCMonth, balances: inout AccountBalances,
        read: (Int) throws -> (header: SegmentRecordHeader, event: [UInt8])
    ) throws -> HistoryItem? {
        let (header, bytes) = try read(Int(ref.offset))
        guard header.timestamp == ref.timestamp else {
            throw LedgerError(
                .corruption, "index of \(month) points at a record with another timestamp", path: layout.segmentIndexPath(month), offset: Int(ref.offset))
        }
        let event = bytes.withUnsafeBytes { EventBatchReader.decode($0, at: 0) }
        var hold: [Posting]?
        if ref.pendingPosition != .none {
            guard let (_, readPending) = try self.month(ref.pendingPosition.month) else {
                throw LedgerError(
                    .corruption, "a settlement refers to month \(ref.pendingPosition.month), which has no segment", path: layout.segmentIndexPath(month))
            }
            guard case .createEntry(let pending) = try readPending(ref.pendingPosition.offset).event.withUnsafeBytes({ EventBatchReader.decode($0, at: 0) }),
                pending.kind == .pending
            else { throw LedgerError(.corruption, "a settlement's pending reference is not a pending entry", path: layout.segmentIndexPath(month)) }
            hold = pending.postings
        }
        return HistoryItem.effect(of: event, on: summary.id, timestamp: header.timestamp, lsn: header.lsn, balances: &balances, hold: hold)
    }
}
