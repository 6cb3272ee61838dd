// Reads a segment file: every record in order, then classifies the end as
// clean, torn (unsynced tail beyond the durable frontier: truncated by the
// writer) or corrupt (an invalid record before the frontier: reported with
// file and offset). See Specs/segment-format.md ("Reading").

public struct SegmentRecord {
    public var offset: Int
    public var header: SegmentRecordHeader
    public var event: UnsafeRawBufferPointer
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
}

public enum SegmentReader {
    /// Scans `path`, calling `visit` for each record. Throws `corruption`
    /// naming the file and offset for damage before valid data, a bad header,
    /// records out of order, or a record from another month.
    public static func scan(storage: any Storage, path: String, expectedDirectoryID: [UInt8]? = nil, visit: (SegmentRecord) throws -> Void = { _ in }) throws -> SegmentScanResult {
        let file = try storage.openFile(path, create: false)
        defer { file.close() }
        let size = try file.size()
        guard size >= SegmentFormat.fileHeaderBytes else {
            throw LedgerError(.corruption, "segment is \(size) bytes, shorter than its header; run `ledgerctl verify`", path: path, offset: size)
        }
        let bytes = try file.readExactly(size, at: 0)
        let header = try SegmentFileHeader.decode(Array(bytes[0..<SegmentFormat.fileHeaderUsedBytes]), path: path)
        guard bytes.withUnsafeBytes({ p in
            _LE.isZero(p, 64, SegmentFormat.frontierSlotOffsets[0] - 64)
                && _LE.isZero(p, 1024 + 32, 2048 - 1056) && _LE.isZero(p, 2048 + 32, SegmentFormat.fileHeaderBytes - 2080)
        }) else {
            throw LedgerError(.corruption, "segment header page has unexpected non-zero bytes", path: path, offset: 64)
        }
        if let expectedDirectoryID, header.directoryID != expectedDirectoryID {
            throw LedgerError(.corruption, "segment belongs to another data directory", path: path, offset: 24)
        }
        if let name = path.split(separator: "/").last, let named = DataDirectoryLayout.month(ofSegmentFileName: String(name)), named != header.month {
            throw LedgerError(.corruption, "segment named \(named) holds month \(header.month)", path: path, offset: 16)
        }
        var result = SegmentScanResult(header: header)
        let seed = header.recordSeed
        (result.frontier, result.frontierSlot) = try bytes.withUnsafeBytes { try SegmentFrontier.read(headerPage: $0, seed: seed, path: path) }
        guard result.frontier.durableEndOffset <= size, result.frontier.durableEndOffset >= SegmentFormat.fileHeaderBytes else {
            throw LedgerError(.corruption, "segment is \(size) bytes but its frontier says \(result.frontier.durableEndOffset) were synced", path: path, offset: size)
        }
        try bytes.withUnsafeBytes { raw in
            var offset = SegmentFormat.fileHeaderBytes
            while offset + SegmentFormat.recordHeaderBytes <= raw.count {
                guard let record = SegmentRecordHeader.standalone(raw, at: offset, seed: seed) else { break }
                guard record.lsn >= result.lastLSN, record.timestamp > result.lastTimestamp else {
                    throw LedgerError(.corruption, "record out of order: LSN \(record.lsn) timestamp \(record.timestamp) after LSN \(result.lastLSN) timestamp \(result.lastTimestamp)", path: path, offset: offset)
                }
                guard header.month.contains(record.timestamp) else {
                    throw LedgerError(.corruption, "record timestamp \(record.timestamp) lies outside \(header.month)", path: path, offset: offset)
                }
                let start = offset + SegmentFormat.recordHeaderBytes
                try visit(SegmentRecord(offset: offset, header: record, event: UnsafeRawBufferPointer(rebasing: raw[start..<(start + record.eventBytes)])))
                result.recordCount += 1
                result.lastLSN = record.lsn
                result.lastTimestamp = record.timestamp
                offset += record.recordBytes
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
}
