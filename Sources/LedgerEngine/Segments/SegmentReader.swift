// Reads a segment file: every record in order, then classifies the end as
// clean, torn (unsynced tail beyond the durable frontier: truncated by the
// writer) or corrupt (an invalid record before the frontier: reported with
// file and offset). See Specs/segment-format.md ("Reading").

public struct SegmentRecord {
    public var offset: Int
    public var header: SegmentRecordHeader
    public var event: UnsafeRawBufferPointer
    /// This record and every byte after it in the scan's buffer (not yet
    /// checked beyond this record): for a filer's lookahead.
    public var rest: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
}

public struct SegmentScanResult: Sendable {
    public var header: SegmentFileHeader
    public var recordCount = 0
    public var lastLSN: UInt64 = 0
    public var lastTimestamp: UInt64 = 0
    /// Where the next record goes.
    public var endOffset = SegmentFormat.fileHeaderBytes
    /// Set when non-zero bytes follow the last record (a torn append).
    public var tornTailOffset: Int?
    /// The durable frontier recorded in the header, and its slot.
    public var frontier = SegmentFrontier.empty
    public var frontierSlot = 1
    /// The seal record, when the month is sealed, and where it starts.
    public var seal: SegmentSeal?
    public var sealOffset: Int?
    /// The record hasher's digest after the records before `rootSoFarAt`
    /// (nil unless asked for and the records end at or after it).
    public var rootSoFar: [UInt8]?
}

public enum SegmentReader {
    /// Scans `path`, calling `visit` for each record. Throws `corruption`
    /// naming the file and offset for damage before valid data, a bad header,
    /// records out of order, or a record from another month.
    ///
    /// A sealed segment's month root is recomputed and checked. For an
    /// unsealed one, `recordHasher` (if given) is fed every record's bytes.
    /// `mapped`: the file is mapped instead of read into a buffer of its
    /// size where storage can map (the open path only: see
    /// `ReadableFile.mapForReading`).
    /// `rootSoFarAt`: also take `recordHasher`'s digest after the records
    /// before this offset (a saved open-month index's covered end).
    public static func scan(
        storage: any Storage, path: String, expectedDirectoryID: [UInt8]? = nil, recordHasher: SHA256Hasher? = nil, rootSoFarAt: Int? = nil,
        mapped: Bool = false, visit: (SegmentRecord) throws -> Void = { _ in }
    ) throws -> SegmentScanResult {
        let file = try storage.openFileForReading(path)
        defer { file.close() }
        return try scan(
            file: file, expectedDirectoryID: expectedDirectoryID, recordHasher: recordHasher, rootSoFarAt: rootSoFarAt, mapped: mapped, visit: visit)
    }

    /// As `scan(storage:path:...)`, over an open segment or archive.
    public static func scan(
        file: any ReadableFile, expectedDirectoryID: [UInt8]? = nil, recordHasher: SHA256Hasher? = nil, rootSoFarAt: Int? = nil, mapped: Bool = false,
        visit: (SegmentRecord) throws -> Void = { _ in }
    ) throws -> SegmentScanResult {
        let size = try file.size()
        guard size >= SegmentFormat.fileHeaderBytes else {
            throw LedgerError(.corruption, "segment is \(size) bytes, shorter than its header; run `ledgerctl verify`", path: file.path, offset: size)
        }
        return try file.withContents(size, mapped: mapped) { bytes in
            try scan(bytes, path: file.path, expectedDirectoryID: expectedDirectoryID, recordHasher: recordHasher, rootSoFarAt: rootSoFarAt, visit: visit)
        }
    }

    /// The scan over a whole segment's bytes.
    // Long: the checks of the header, each record and the seal read in order, as the spec lists them.
    private static func scan(
        _ bytes: UnsafeRawBufferPointer, path: String, expectedDirectoryID: [UInt8]?, recordHasher: SHA256Hasher?, rootSoFarAt: Int?,
        visit: (SegmentRecord) throws -> Void
    ) throws -> SegmentScanResult {
        let size = bytes.count
        let header = try SegmentFileHeader.decode(Array(bytes[0..<SegmentFormat.fileHeaderUsedBytes]), path: path)
        guard
            bytes.withUnsafeBytes({ p in
                _LE.isZero(p, SegmentFormat.fileHeaderUsedBytes, SegmentFormat.frontierSlotOffsets[0] - SegmentFormat.fileHeaderUsedBytes)
                    && _LE.isZero(p, 1024 + 32, 2048 - 1056) && _LE.isZero(p, 2048 + 32, SegmentFormat.fileHeaderBytes - 2080)
            })
        else {
            throw LedgerError(.corruption, "segment header page has unexpected non-zero bytes", path: path, offset: SegmentFormat.fileHeaderUsedBytes)
        }
        if let expectedDirectoryID, header.directoryID != expectedDirectoryID {
            throw LedgerError(.corruption, "segment belongs to another data directory", path: path, offset: 24)
        }
        if let name = path.split(separator: "/").last.map(String.init),
            let named = DataDirectoryLayout.month(ofSegmentFileName: name) ?? DataDirectoryLayout.month(ofArchiveFileName: name), named != header.month
        {
            throw LedgerError(.corruption, "segment named \(named) holds month \(header.month)", path: path, offset: 16)
        }
        var result = SegmentScanResult(header: header)
        let seed = header.recordSeed
        (result.frontier, result.frontierSlot) = try bytes.withUnsafeBytes { try SegmentFrontier.read(headerPage: $0, seed: seed, path: path) }
        guard result.frontier.durableEndOffset <= size, result.frontier.durableEndOffset >= SegmentFormat.fileHeaderBytes else {
            throw LedgerError(
                .corruption, "segment is \(size) bytes but its frontier says \(result.frontier.durableEndOffset) were synced", path: path, offset: size)
        }
        try bytes.withUnsafeBytes { raw in
            var offset = SegmentFormat.fileHeaderBytes
            while offset + SegmentFormat.recordHeaderBytes <= raw.count {
                guard let record = SegmentRecordHeader.standalone(raw, at: offset, seed: seed) else { break }
                guard record.lsn >= result.lastLSN, record.timestamp > result.lastTimestamp else {
                    throw LedgerError(
                        .corruption,
                        "record out of order: LSN \(record.lsn) timestamp \(record.timestamp) after LSN \(result.lastLSN) timestamp \(result.lastTimestamp)",
                        path: path, offset: offset)
                }
                guard header.month.contains(record.timestamp) else {
                    throw LedgerError(.corruption, "record timestamp \(record.timestamp) lies outside \(header.month)", path: path, offset: offset)
                }
                let start = offset + SegmentFormat.recordHeaderBytes
                try visit(
                    SegmentRecord(
                        offset: offset, header: record, event: UnsafeRawBufferPointer(rebasing: raw[start..<(start + record.eventBytes)]),
                        rest: UnsafeRawBufferPointer(rebasing: raw[offset...])))
                result.recordCount += 1
                result.lastLSN = record.lsn
                result.lastTimestamp = record.timestamp
                offset += record.recordBytes
            }
            if let seal = SegmentSeal.decode(UnsafeRawBufferPointer(rebasing: raw[offset...]), seed: seed) {
                try check(
                    seal, of: result, header: header, records: UnsafeRawBufferPointer(rebasing: raw[SegmentFormat.fileHeaderBytes..<offset]), path: path,
                    offset: offset)
                result.seal = seal
                result.sealOffset = offset
                offset += seal.encodedBytes
                guard UnsafeRawBufferPointer(rebasing: raw[offset...]).allSatisfy({ $0 == 0 }) else {
                    throw LedgerError(.corruption, "bytes follow the seal record of a sealed month", path: path, offset: offset)
                }
            } else if let recordHasher {
                // Split at `rootSoFarAt` (the root so far is a copy's digest there).
                let split = min(max(rootSoFarAt ?? offset, SegmentFormat.fileHeaderBytes), offset)
                recordHasher.update(UnsafeRawBufferPointer(rebasing: raw[SegmentFormat.fileHeaderBytes..<split]))
                if let rootSoFarAt, rootSoFarAt <= offset { result.rootSoFar = recordHasher.copy().finish() }
                recordHasher.update(UnsafeRawBufferPointer(rebasing: raw[split..<offset]))
            }
            result.endOffset = offset
            // Synced bytes must all be valid records: damage before the
            // frontier is corruption. Beyond it, the bytes were never synced.
            if offset < result.frontier.durableEndOffset {
                throw LedgerError(
                    .corruption,
                    "invalid record at \(offset), before the durable frontier \(result.frontier.durableEndOffset); investigate with `ledgerctl verify`",
                    path: path, offset: offset)
            }
            if !UnsafeRawBufferPointer(rebasing: raw[offset...]).allSatisfy({ $0 == 0 }) { result.tornTailOffset = offset }
        }
        return result
    }

    /// A seal must describe the records before it and carry their root.
    static func check(_ seal: SegmentSeal, of result: SegmentScanResult, header: SegmentFileHeader, records: UnsafeRawBufferPointer, path: String, offset: Int)
        throws
    {
        guard seal.recordCount == UInt64(result.recordCount), seal.lastLSN == result.lastLSN, seal.lastTimestamp == result.lastTimestamp,
            result.recordCount > 0, seal.previousMonth == header.previousMonth, seal.previousRoot == header.previousRoot
        else {
            throw LedgerError(
                .corruption, "seal record does not describe the records before it (count \(seal.recordCount), last LSN \(seal.lastLSN))", path: path,
                offset: offset)
        }
        let hasher = SegmentSeal.rootHasher(directoryID: header.directoryID, month: header.month, previousRoot: seal.previousRoot)
        hasher.update(records)
        guard hasher.finish() == seal.monthRoot else {
            throw LedgerError(
                .corruption, "month root in the seal does not match the month's records (SHA-256): the month was altered after it was sealed", path: path,
                offset: offset + 96)
        }
    }

    /// The seal of a sealed segment, read from the file's tail without
    /// scanning the records (the month root is not rechecked: `verify` does).
    /// nil when the segment is not sealed.
    public static func readSeal(storage: any Storage, path: String, expectedDirectoryID: [UInt8]) throws -> SegmentSeal? {
        let file = try storage.openFileForReading(path)
        defer { file.close() }
        return try readSeal(file: file, expectedDirectoryID: expectedDirectoryID)
    }

    public static func readSeal(file: any ReadableFile, expectedDirectoryID: [UInt8]) throws -> SegmentSeal? {
        let path = file.path
        let headerPage = try file.readExactly(SegmentFormat.fileHeaderBytes, at: 0)
        let header = try SegmentFileHeader.decode(Array(headerPage[0..<SegmentFormat.fileHeaderUsedBytes]), path: path)
        guard header.directoryID == expectedDirectoryID else {
            throw LedgerError(.corruption, "segment belongs to another data directory", path: path, offset: 24)
        }
        let (frontier, _) = try headerPage.withUnsafeBytes { try SegmentFrontier.read(headerPage: $0, seed: header.recordSeed, path: path) }
        let end = frontier.durableEndOffset
        guard end >= SegmentFormat.fileHeaderBytes + SegmentSeal.fixedBytes + SegmentSeal.tailBytes else { return nil }
        let tail = try file.readExactly(SegmentSeal.tailBytes, at: end - SegmentSeal.tailBytes)
        // The last 8 bytes of an unsealed month are a record's, any value: an
        // amount near 2^128 must read as "no seal", not trap in Int(_:).
        let sealBytesRaw = tail.withUnsafeBytes { _LE.u64($0, 0) }
        guard sealBytesRaw <= UInt64(end) else { return nil }
        let sealBytes = Int(sealBytesRaw)
        guard sealBytes >= SegmentSeal.fixedBytes + SegmentSeal.tailBytes, sealBytes % 8 == 0, sealBytes <= end - SegmentFormat.fileHeaderBytes else {
            return nil
        }
        let bytes = try file.readExactly(sealBytes, at: end - sealBytes)
        return bytes.withUnsafeBytes { SegmentSeal.decode($0, seed: header.recordSeed) }
    }

    /// Recomputes a sealed month's root from its records, streamed in
    /// `rootCheckChunkBytes` reads, and compares it with the seal's and with
    /// `expectedRoot` (what the month chain says). Queries call it before
    /// their first answer from a month: a record edited with its CRC
    /// recomputed passes every record check, only the root notices.
    public static func checkMonthRoot(file: any ReadableFile, expectedDirectoryID: [UInt8], expectedRoot: [UInt8], month: UTCMonth) throws {
        let path = file.path
        let headerPage = try file.readExactly(SegmentFormat.fileHeaderBytes, at: 0)
        let header = try SegmentFileHeader.decode(Array(headerPage[0..<SegmentFormat.fileHeaderUsedBytes]), path: path)
        let (frontier, _) = try headerPage.withUnsafeBytes { try SegmentFrontier.read(headerPage: $0, seed: header.recordSeed, path: path) }
        guard let seal = try readSeal(file: file, expectedDirectoryID: expectedDirectoryID) else {
            throw LedgerError(
                .corruption, "\(month) is listed as sealed but its file holds no valid seal; run `ledgerctl verify`", path: path,
                offset: frontier.durableEndOffset)
        }
        let recordsEnd = frontier.durableEndOffset - seal.encodedBytes
        let hasher = SegmentSeal.rootHasher(directoryID: header.directoryID, month: header.month, previousRoot: seal.previousRoot)
        // No bigger than the records: a small month does not pay for 4 MiB.
        var chunk = [UInt8](repeating: 0, count: max(0, min(rootCheckChunkBytes, recordsEnd - SegmentFormat.fileHeaderBytes)))
        var offset = SegmentFormat.fileHeaderBytes
        while offset < recordsEnd {
            let count = min(rootCheckChunkBytes, recordsEnd - offset)
            let got = try chunk.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<count]), at: offset) }
            guard got == count else { throw LedgerError(.corruption, "\(month) ends at \(offset + got), inside its records", path: path, offset: offset + got) }
            chunk.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            offset += count
        }
        let root = hasher.finish()
        guard root == seal.monthRoot, root == expectedRoot else {
            throw LedgerError(
                .corruption,
                "\(month) fails its SHA-256 month root: the month was altered after it was sealed; no answer is served from it; investigate with `ledgerctl verify`",
                path: path, offset: recordsEnd)
        }
    }

    static let rootCheckChunkBytes = 4 << 20

    /// Reads and checks the single record at `offset` (queries use the
    /// index's offsets). A record that does not validate is corruption.
    static func readRecord(file: any ReadableFile, at offset: Int, seed: UInt32, end: Int) throws -> (header: SegmentRecordHeader, event: [UInt8]) {
        guard offset >= SegmentFormat.fileHeaderBytes, offset + SegmentFormat.recordHeaderBytes <= end else {
            throw LedgerError(.corruption, "index points at offset \(offset), outside the segment's records", path: file.path, offset: offset)
        }
        let head = try file.readExactly(SegmentFormat.recordHeaderBytes, at: offset)
        let eventBytes = Int(head.withUnsafeBytes { _LE.u32($0, 0) })
        guard eventBytes > 0, eventBytes <= SegmentFormat.eventBytesMax, offset + SegmentFormat.recordHeaderBytes + eventBytes <= end else {
            throw LedgerError(.corruption, "no valid record at offset \(offset)", path: file.path, offset: offset)
        }
        let whole = head + (try file.readExactly(eventBytes, at: offset + SegmentFormat.recordHeaderBytes))
        guard let header = whole.withUnsafeBytes({ SegmentRecordHeader.standalone($0, at: 0, seed: seed) }) else {
            throw LedgerError(.corruption, "record at offset \(offset) fails its checksum or structure", path: file.path, offset: offset)
        }
        return (header, Array(whole[SegmentFormat.recordHeaderBytes...]))
    }

    /// The file header alone.
    public static func readHeader(storage: any Storage, path: String) throws -> SegmentFileHeader {
        let file = try storage.openFileForReading(path)
        defer { file.close() }
        return try readHeader(file: file)
    }

    public static func readHeader(file: any ReadableFile) throws -> SegmentFileHeader {
        try SegmentFileHeader.decode(try file.readExactly(SegmentFormat.fileHeaderUsedBytes, at: 0), path: file.path)
    }
}
