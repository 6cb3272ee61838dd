// Reads a sealed month's account-ordered copy (Specs/account-copy-format.md):
// a run of one account's refs is one read of their offsets (each covering
// block checked against its CRC) and one contiguous read of their records
// (each checked as the segment's are, and against the month index's
// timestamp). Damage is a `corruption` error naming this file and offset;
// nothing from a damaged copy is served.

typealias SegmentRecordRead = (header: SegmentRecordHeader, event: [UInt8])

final class AccountCopyFile {
    let path: String
    let header: AccountCopyFormat.Header
    private let file: any ReadableFile
    private let blockCRCs: [UInt32]
    /// The segment's record seed: the copies carry the segment's CRCs.
    private let seed: UInt32

    /// Opens and checks the header and the CRC table against the sealed
    /// month it must copy (its root, and the index's ref count).
    init(storage: any Storage, path: String, month: UTCMonth, directoryID: [UInt8], monthRoot: [UInt8], refCount: Int, seed: UInt32) throws {
        self.path = path
        self.seed = seed
        file = try storage.openFileForReading(path)
        do {
            guard let header = AccountCopyFormat.decodeHeader(try file.readExactly(AccountCopyFormat.headerBytes, at: 0)) else {
                throw LedgerError(
                    .corruption, "account copy header is damaged or of another version; rebuild it with `ledgerctl build-copies`", path: path, offset: 0)
            }
            guard header.month == month, header.directoryID == directoryID, header.monthRoot == monthRoot else {
                throw LedgerError(
                    .corruption, "account copy was built for another month, directory or version of \(month); rebuild it with `ledgerctl build-copies`",
                    path: path, offset: 16)
            }
            guard header.refCount == refCount else {
                throw LedgerError(.corruption, "account copy holds \(header.refCount) refs, the month index \(refCount)", path: path, offset: 72)
            }
            let size = try file.size()
            guard size == header.fileBytes else {
                throw LedgerError(
                    .corruption, "account copy is \(size) bytes, its header says \(header.fileBytes)", path: path, offset: min(size, header.fileBytes))
            }
            let table = try file.readExactly(header.blockCount * 4, at: header.crcsOffset)
            blockCRCs = table.withUnsafeBytes { p in (0..<header.blockCount).map { _LE.u32(p, 4 * $0) } }
            self.header = header
        } catch {
            file.close()
            throw error
        }
    }

    deinit { file.close() }

    /// The offsets of refs `first...last` (the end of the records for
    /// `header.refCount`), every covering block checked against its CRC.
    func offsets(_ refs: ClosedRange<Int>) throws -> [Int] {
        precondition(refs.upperBound <= header.refCount, "refs \(refs) of \(header.refCount)")
        let first = refs.lowerBound * AccountCopyFormat.offsetBytes
        let bytes = try file.readCheckedBlocks(
            header.offsetsOffset + first, refs.count * AccountCopyFormat.offsetBytes, region: header.offsetsOffset..<header.crcsOffset,
            blockBytes: AccountCopyFormat.blockBytes, blockCRCs: blockCRCs, what: "account copy offsets block")
        return bytes.withUnsafeBytes { p in (0..<refs.count).map { _LE.size(p, $0 * AccountCopyFormat.offsetBytes) } }
    }

    /// Asks the kernel to start reading the offsets of refs `refs` (a hint:
    /// `offsets` checks whatever it reads).
    func adviseOffsets(of refs: Range<Int>) {
        guard !refs.isEmpty, refs.upperBound <= header.refCount else { return }
        file.adviseWillNeed(
            offset: header.offsetsOffset + refs.lowerBound * AccountCopyFormat.offsetBytes, count: (refs.count + 1) * AccountCopyFormat.offsetBytes)
    }

    /// The records of refs `range` (one account's, consecutive), in order,
    /// each checked against `timestamps` (the month index's); nil when they
    /// span more than `spanBytesMax` (the caller reads the segment).
    func records(_ range: Range<Int>, timestamps: [UInt64]) throws -> [SegmentRecordRead]? {
        precondition(!range.isEmpty && timestamps.count == range.count, "refs \(range), \(timestamps.count) timestamps")
        let offsets = try self.offsets(range.lowerBound...range.upperBound)
        guard offsets[0] >= AccountCopyFormat.headerBytes, offsets[range.count] <= header.offsetsOffset,
            zip(offsets, offsets.dropFirst()).allSatisfy({ $0 < $1 })
        else {
            throw LedgerError(
                .corruption, "account copy offsets of refs \(range) are out of order or outside the records; run `ledgerctl verify`", path: path,
                offset: header.offsetsOffset + range.lowerBound * AccountCopyFormat.offsetBytes)
        }
        let first = offsets[0]
        guard offsets[range.count] - first <= AccountCopyFormat.spanBytesMax else { return nil }
        let bytes = try file.readExactly(offsets[range.count] - first, at: first)
        return try bytes.withUnsafeBytes { p in
            try (0..<range.count).map { i in
                let record = UnsafeRawBufferPointer(rebasing: p[(offsets[i] - first)..<(offsets[i + 1] - first)])
                guard let h = SegmentRecordHeader.standalone(record, at: 0, seed: seed), SegmentFormat.recordHeaderBytes + h.eventBytes == record.count,
                    h.timestamp == timestamps[i]
                else {
                    throw LedgerError(
                        .corruption, "account copy of ref \(range.lowerBound + i) fails its checksum, length or timestamp; run `ledgerctl verify`",
                        path: path, offset: offsets[i])
                }
                return (h, Array(record[SegmentFormat.recordHeaderBytes...]))
            }
        }
    }
}

extension AccountCopyFile {
    /// Refs checked per read when the whole copy is checked.
    static let refsPerCheck = 256

    /// Every ref's copy (`verify`): the offsets table's blocks, and each
    /// record's structure, CRC, length and timestamp against `index`'s ref.
    /// With timestamps unique in a month, a record that passes is the
    /// segment's record at that moment. Throws the first damage found.
    func checkAll(against index: MonthIndexFile) throws {
        precondition(index.refCount == header.refCount, "index of \(index.refCount) refs")
        var first = 0
        var timestamps: [UInt64] = []
        timestamps.reserveCapacity(Self.refsPerCheck)
        try index.forEachRef { r, timestamp, _ in
            timestamps.append(timestamp)
            guard timestamps.count == Self.refsPerCheck else { return }
            try check(first..<(r + 1), timestamps[...])
            first = r + 1
            timestamps.removeAll(keepingCapacity: true)
        }
        if !timestamps.isEmpty { try check(first..<(first + timestamps.count), timestamps[...]) }
    }

    /// Refs `range` checked in reads of at most `spanBytesMax`: halved
    /// until they fit (one record always does).
    private func check(_ range: Range<Int>, _ timestamps: ArraySlice<UInt64>) throws {
        if try records(range, timestamps: Array(timestamps)) != nil { return }
        guard range.count > 1 else {
            throw LedgerError(.corruption, "account copy of ref \(range.lowerBound) is longer than any record", path: path, offset: nil)
        }
        let middle = range.count / 2
        let split = timestamps.startIndex + middle
        try check(range.lowerBound..<(range.lowerBound + middle), timestamps[..<split])
        try check((range.lowerBound + middle)..<range.upperBound, timestamps[split...])
    }
}
