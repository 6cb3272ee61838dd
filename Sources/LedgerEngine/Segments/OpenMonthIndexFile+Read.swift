// Reading the open month's saved index: every section's CRC first, then each
// value the builder will index with (record numbers, list lengths, offsets)
// checked before it is used, so a damaged or crafted file is refused with
// its offset and never traps. What a CRC cannot vouch for (that the file
// describes this segment) the open checks record by record as it scans
// (SegmentFiler+OpenMonthIndex.swift).

extension OpenMonthIndexFile {
    /// Reads and checks `path` (mapped where storage can map: the builder's
    /// per-event arrays then read their saved part in place). Throws
    /// `corruption` naming the file and offset when it is damaged, of
    /// another month or directory, or inconsistent.
    static func read(storage: any Storage, path: String, month: UTCMonth, directoryID: [UInt8], reserveEvents: Int) throws -> Saved {
        let file = try storage.openFileForReading(path)
        defer { file.close() }
        let size = try file.size()
        guard size >= Format.headerBytes else {
            throw LedgerError(.corruption, "open month index is \(size) bytes, shorter than its header", path: path, offset: size)
        }
        return try decode(SavedIndexBytes(file: file, count: size), path: path, month: month, directoryID: directoryID, reserveEvents: reserveEvents)
    }

    static func decode(_ bytes: SavedIndexBytes, path: String, month: UTCMonth, directoryID: [UInt8], reserveEvents: Int) throws -> Saved {
        let p = bytes.bytes
        guard let header = Format.Header.decode(p) else {
            throw LedgerError(.corruption, "open month index header is damaged or of another version", path: path, offset: 0)
        }
        guard header.month == month, header.directoryID == directoryID else {
            throw LedgerError(.corruption, "open month index describes \(header.month) of another directory or month than \(month)", path: path, offset: 16)
        }
        guard header.fileBytes == p.count else {
            throw LedgerError(.corruption, "open month index is \(p.count) bytes but its header says \(header.fileBytes)", path: path, offset: 144)
        }
        for section in Format.Section.allCases {
            let start = header.sectionOffset(section)
            let bytes = UnsafeRawBufferPointer(rebasing: p[start..<(start + header.sectionBytes(section))])
            guard Checksum.mask(Checksum.crc32c(bytes)) == header.sectionCRCs[section.rawValue] else {
                throw LedgerError(.corruption, "open month index section \(section) fails its CRC", path: path, offset: start)
            }
        }
        let decoder = SectionDecoder(bytes: bytes, header: header, path: path)
        let holds = try decoder.holds()
        let totals = try decoder.ledgerTotals()
        var tables = MonthIndexBuilder.Tables()
        try decoder.accounts(into: &tables)
        try decoder.lists(into: &tables)
        try decoder.records(into: &tables, reserveEvents: reserveEvents)
        try decoder.entries(into: &tables, reserveEvents: reserveEvents)
        return Saved(header: header, bytes: bytes, index: MonthIndexBuilder(month: month, tables: tables, totals: totals), holds: holds)
    }

    /// Decodes the sections in order; each throws naming the offset of the
    /// first value that does not hold.
    struct SectionDecoder {
        let bytes: SavedIndexBytes
        let header: Format.Header
        let path: String
        var p: UnsafeRawBufferPointer { bytes.bytes }

        func damaged(_ what: String, _ offset: Int) -> LedgerError {
            LedgerError(.corruption, "open month index: \(what)", path: path, offset: offset)
        }

        func holds() throws -> [UInt128: SegmentHold] {
            var holds: [UInt128: SegmentHold] = [:]
            var o = header.sectionOffset(.holds)
            var postingsLeft = header.holdPostingCount
            var previousID: UInt128 = 0
            for _ in 0..<header.holdCount {
                let id = _LE.u128(p, o)
                let position = SegmentPosition(rawValue: _LE.u64(p, o + 16))
                let count = Int(_LE.u32(p, o + 24))
                // Ascending ids: one encoding per content (verify compares bytes).
                guard id > previousID, position.isValid, position != .none, _LE.u32(p, o + 28) == 0, count <= postingsLeft else {
                    throw damaged("hold \(id) is not valid", o)
                }
                postingsLeft -= count
                o += Format.holdBytes
                var postings: [Posting] = []
                for _ in 0..<count {
                    guard _LE.isZero(p, o + 33, 7) else { throw damaged("posting padding is not zero", o + 33) }
                    postings.append(Posting(accountID: _LE.u128(p, o), amount: _LE.u128(p, o + 16), side: Side(rawValue: p[o + 32])))
                    o += Format.holdPostingBytes
                }
                holds[id] = SegmentHold(position: position, postings: postings)
                previousID = id
            }
            guard postingsLeft == 0 else { throw damaged("\(postingsLeft) hold postings are not part of a hold", o) }
            return holds
        }

        func ledgerTotals() throws -> [LedgerTotals] {
            var totals: [LedgerTotals] = []
            var o = header.sectionOffset(.ledgerTotals)
            for _ in 0..<header.ledgerTotalCount {
                let ledger = _LE.u32(p, o)
                guard _LE.u32(p, o + 4) == 0, totals.last.map({ $0.ledger < ledger }) ?? true else { throw damaged("ledger totals out of order", o) }
                totals.append(LedgerTotals(ledger: ledger, debitsPosted: _LE.u128(p, o + 8), creditsPosted: _LE.u128(p, o + 24)))
                o += Format.ledgerTotalBytes
            }
            return totals
        }

        /// The account summaries (month slot order) and their lists' headers.
        func accounts(into t: inout MonthIndexBuilder.Tables) throws {
            var o = header.sectionOffset(.accounts)
            var refs = 0
            var checkpoints = 0
            t.summaries.reserveCapacity(header.accountCount)
            for slot in 0..<header.accountCount {
                let id = _LE.u128(p, o)
                let eventCount = _LE.size(p, o + 24)
                guard id != 0, _LE.u16(p, o + 22) == 0, eventCount >= 1, eventCount <= header.recordCount, t.slotByID[id] == nil else {
                    throw damaged("account \(id) is not valid (or listed twice)", o)
                }
                refs += eventCount
                checkpoints += eventCount / MonthIndex.checkpointInterval
                t.summaries.append(
                    MonthAccount(
                        id: id, ledger: _LE.u32(p, o + 16), flags: AccountFlags(rawValue: _LE.u16(p, o + 20)), opening: SegmentSeal.balances(p, o + 32),
                        closing: SegmentSeal.balances(p, o + 96), eventCount: eventCount, eventRefStart: slot, checkpointStart: slot))
                t.slotByID.insertNew(id, Int32(slot))
                o += Format.accountBytes
            }
            guard refs == header.refCount, checkpoints == header.checkpointCount else {
                throw damaged("accounts list \(refs) events and \(checkpoints) checkpoints, the header \(header.refCount) and \(header.checkpointCount)", 120)
            }
        }

        /// Each account's refs (record numbers, ascending) and checkpoints,
        /// read in place: each list a run of its section.
        func lists(into t: inout MonthIndexBuilder.Tables) throws {
            var o = header.sectionOffset(.refs)
            var refStarts: [Int] = []
            refStarts.reserveCapacity(t.summaries.count)
            for summary in t.summaries {
                refStarts.append(o)
                var previous = -1
                for _ in 0..<summary.eventCount {
                    let number = _LE.size(p, o)
                    guard number > previous, number < header.recordCount else { throw damaged("event ref \(number) is out of order or range", o) }
                    previous = number
                    o += Format.refBytes
                }
            }
            t.refs = SavedLists(saved: bytes, starts: refStarts, counts: t.summaries.map(\.eventCount), filler: 0)
            var checkpointStarts: [Int] = []
            o = header.sectionOffset(.checkpoints)
            for summary in t.summaries {
                checkpointStarts.append(o)
                o += summary.eventCount / MonthIndex.checkpointInterval * Format.checkpointBytes
            }
            t.checkpoints = SavedLists(
                saved: bytes, starts: checkpointStarts, counts: t.summaries.map { $0.eventCount / MonthIndex.checkpointInterval }, filler: AccountBalances())
        }

        /// Every record: offsets and timestamps strictly ascending, inside
        /// the covered part of the segment and the month. Read in place.
        func records(into t: inout MonthIndexBuilder.Tables, reserveEvents: Int) throws {
            let start = header.sectionOffset(.records)
            var o = start
            var previous = (offset: UInt64(SegmentFormat.fileHeaderBytes - 1), timestamp: UInt64(0))
            for n in 0..<header.recordCount {
                let record = AccountEventRef.load(p, o)
                guard record.offset > previous.offset, record.offset < UInt64(header.coveredEndOffset), record.timestamp > previous.timestamp,
                    header.month.contains(record.timestamp), record.pendingPosition.isValid
                else { throw damaged("record \(n) is out of order or range", o) }
                previous = (record.offset, record.timestamp)
                o += Format.recordBytes
            }
            let first = header.recordCount > 0 ? AccountEventRef.load(p, start).timestamp : 0
            guard first == (header.recordCount > 0 ? header.first.timestamp : 0), previous.timestamp == (header.recordCount > 0 ? header.last.timestamp : 0)
            else { throw damaged("the records do not start and end where the header says", start) }
            t.records = EventArray(saved: bytes, offset: start, count: header.recordCount)
            t.records.reserveCapacity(Self.tailReserve(saved: header.recordCount, reserveEvents: reserveEvents))
        }

        /// Room for the events filed after the saved ones: what `reserveEvents`
        /// expects beyond them, at least a quarter more (address space until
        /// written), so the first events after a restart do not double it.
        static func tailReserve(saved: Int, reserveEvents: Int) -> Int {
            saved + min(max(reserveEvents - saved, saved / 4, 1 << 16), MonthIndexBuilder.reservedEventsMax)
        }

        /// Entry ids and their records' offsets (filing order). Read in place.
        func entries(into t: inout MonthIndexBuilder.Tables, reserveEvents: Int) throws {
            var ids = header.sectionOffset(.entryIDs)
            var offsets = header.sectionOffset(.entryOffsets)
            var previous = UInt64(SegmentFormat.fileHeaderBytes - 1)
            for _ in 0..<header.entryCount {
                let id = _LE.u128(p, ids)
                let offset = _LE.u64(p, offsets)
                guard id != 0, offset > previous, offset < UInt64(header.coveredEndOffset) else { throw damaged("entry \(id) is not valid", offsets) }
                previous = offset
                ids += Format.entryIDBytes
                offsets += Format.entryOffsetBytes
            }
            t.entryIDs = EventArray(saved: bytes, offset: header.sectionOffset(.entryIDs), count: header.entryCount)
            t.entryOffsets = EventArray(saved: bytes, offset: header.sectionOffset(.entryOffsets), count: header.entryCount)
            let reserved = Self.tailReserve(saved: header.entryCount, reserveEvents: reserveEvents)
            t.entryIDs.reserveCapacity(reserved)
            t.entryOffsets.reserveCapacity(reserved)
        }
    }
}
