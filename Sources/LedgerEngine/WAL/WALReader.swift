// Reads the WAL in LSN order and classifies what it finds at the end:
// a clean end, a torn tail (never acknowledged; may be truncated), or
// corruption before a later valid record (refuse to open). See
// Specs/wal-format.md ("Recovery").

public struct WALRecord {
    public var path: String
    public var offset: Int
    public var header: WALRecordHeader
    public var payload: UnsafeRawBufferPointer
}

public struct WALProblem: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var offset: Int
    public var kind: String
    public var message: String
    public var description: String { "\(path) offset \(offset): \(kind): \(message)" }
}

public struct WALScanResult: Sendable {
    /// The first LSN the oldest WAL file holds (1 until compaction deletes files).
    public var firstLSN: UInt64 = 1
    /// LSN and masked CRC of the last valid record (0 and the first file's
    /// chain seed when there is none).
    public var lastLSN: UInt64 = 0
    public var lastCRC: UInt32 = 0
    /// The last WAL file, and where the next record goes in it.
    public var lastFilePath: String = ""
    public var lastFileHeader: WALFileHeader?
    public var appendOffset: Int = WALFormat.fileHeaderBytes
    /// Set when bytes after the last valid record must be zeroed before
    /// appending (a torn, never-acknowledged write).
    public var tornTailOffset: Int?
    public var problems: [WALProblem] = []
    public var fileCount = 0
    public var recordCount = 0
    public var bytesScanned = 0
    /// True when the last record is a close record (clean shutdown).
    public var endsWithClose = false
}

public struct WALReader {
    public enum Mode: Sendable {
        /// Stop at the first problem: throw on corruption, report a torn tail.
        case recover
        /// Read-only: record every problem and keep checking checksums.
        case verify
    }

    let storage: any Storage
    let layout: DataDirectoryLayout

    public init(storage: any Storage, layout: DataDirectoryLayout) {
        self.storage = storage
        self.layout = layout
    }

    /// WAL file names with their first LSN, in LSN order.
    public func walFiles() throws -> [(firstLSN: UInt64, path: String)] {
        try storage.listDirectory(layout.root).compactMap { name in
            DataDirectoryLayout.firstLSN(ofWALFileName: name).map { ($0, layout.root + "/" + name) }
        }.sorted { $0.firstLSN < $1.firstLSN }
    }

    /// Reads every record in order, calling `visit` for each valid one until
    /// the first problem. `progress(bytesDone, bytesTotal)` is called per file.
    /// `throughLSN`: stop right after that record, reading nothing beyond it
    /// (a live log, whose writer appends after it: online verify).
    /// `fromLSN`: start at the WAL file that holds that LSN, as if the log
    /// began there (records before it in that file are still visited): for
    /// a second pass over a log a first pass already checked whole.
    public func scan(
        mode: Mode, fromLSN: UInt64? = nil, throughLSN: UInt64? = nil, progress: ((Int, Int) -> Void)? = nil, visit: (WALRecord) throws -> Void
    ) throws -> WALScanResult {
        var files = try walFiles()
        guard !files.isEmpty else {
            throw LedgerError(.notInitialized, "no WAL files; run `ledgerctl init`", path: layout.root)
        }
        if let fromLSN, let start = files.lastIndex(where: { $0.firstLSN <= fromLSN }) { files.removeFirst(start) }
        // Compaction deletes WAL files from the front: the log starts where
        // its first file does. Whether that is early enough is the caller's
        // check (recovery and verify compare it with the snapshots).
        var scan = WALScan(mode: mode, firstLSN: files[0].firstLSN)
        let bytesTotal = files.count  // progress in files; sizes are uniform
        for (fileIndex, (firstLSN, path)) in files.enumerated() {
            progress?(fileIndex, bytesTotal)
            let file = try storage.openFileForReading(path)
            defer { file.close() }
            guard let header = try scan.checkHeader(of: file, firstLSN: firstLSN, isFirst: fileIndex == 0) else { continue }
            scan.result.fileCount += 1
            scan.result.bytesScanned += Int(header.fileBytes)
            do {
                // Recovery (the open path, no writer yet) maps each file
                // rather than reading it into fresh pages (see
                // `ReadableFile.withContents`); other readers read.
                try file.withContents(Int(header.fileBytes), mapped: mode == .recover) { raw in
                    let end = try scan.readRecords(raw, path: path, epochSeed: header.epochSeed) { record in
                        try visit(record)
                        if record.header.lsn == throughLSN { throw ScanLimitReached() }
                    }
                    try scan.classifyEnd(raw, at: end, path: path, header: header, isLast: fileIndex == files.count - 1)
                }
            } catch is ScanLimitReached {
                scan.result.lastLSN = throughLSN!
                return scan.result
            }
        }
        progress?(bytesTotal, bytesTotal)
        scan.result.lastLSN = scan.expectedLSN - 1
        scan.result.lastCRC = scan.previousCRC
        return scan.result
    }

    private struct ScanLimitReached: Error {}

    /// The first record at an 8-aligned offset ≥ `from` that validates on its
    /// own with an LSN above `lsn`.
    static func firstValidRecord(_ raw: UnsafeRawBufferPointer, from: Int, after lsn: UInt64, epochSeed: UInt32) -> (offset: Int, lsn: UInt64)? {
        var offset = WALFormat.align8(from)
        while offset + WALFormat.recordHeaderBytes <= raw.count {
            // Fast skip: a record's first word holds a non-zero length or type.
            if _LE.u64(raw, offset) != 0, let record = WALRecordHeader.standalone(raw, at: offset, epochSeed: epochSeed), record.lsn > lsn {
                return (offset, record.lsn)
            }
            offset += 8
        }
        return nil
    }
}

/// One pass over the WAL files, in order: where the chain stands and what
/// was found so far.
struct WALScan {
    let mode: WALReader.Mode
    var result = WALScanResult()
    var expectedLSN: UInt64
    var previousCRC: UInt32 = 0
    /// After the first problem, verify only checks checksums.
    var stopped = false

    init(mode: WALReader.Mode, firstLSN: UInt64) {
        self.mode = mode
        self.expectedLSN = firstLSN
        result.firstLSN = firstLSN
    }

    /// Recover: throws `corruption`. Verify: records the problem and stops
    /// following the chain.
    mutating func fail(_ path: String, _ offset: Int, _ kind: String, _ message: String) throws {
        if mode == .recover {
            throw LedgerError(
                .corruption,
                "\(kind): \(message). Refusing to open; investigate with `ledgerctl verify` and `ledgerctl inspect wal`",
                path: path, offset: offset)
        }
        result.problems.append(WALProblem(path: path, offset: offset, kind: kind, message: message))
        stopped = true
    }

    /// The file's header, checked against its name, its size and the end of
    /// the file before it; nil when the file cannot be read (reported).
    mutating func checkHeader(of file: any ReadableFile, firstLSN: UInt64, isFirst: Bool) throws -> WALFileHeader? {
        let path = file.path
        let header: WALFileHeader
        do {
            header = try WALFileHeader.decode(try file.readExactly(WALFormat.fileHeaderUsedBytes, at: 0), path: path)
        } catch let error as LedgerError where error.code == .corruption {
            try fail(path, error.offset ?? 0, "bad file header", error.message)
            return nil
        }
        let actualBytes = try file.size()
        guard header.firstLSN == firstLSN, Int(header.fileBytes) == actualBytes, actualBytes > WALFormat.fileHeaderBytes else {
            try fail(
                path, 0, "bad file geometry",
                "name says first LSN \(firstLSN), header says \(header.firstLSN); header says \(header.fileBytes) bytes, file has \(actualBytes)")
            return nil
        }
        if !stopped && (header.firstLSN != expectedLSN || (!isFirst && header.chainSeed != previousCRC)) {
            try fail(
                path, 0, "broken chain",
                "file starts at LSN \(header.firstLSN) with chain seed \(header.chainSeed); expected LSN \(expectedLSN) and seed \(previousCRC) (a WAL file is missing or foreign)"
            )
        }
        if isFirst { previousCRC = header.chainSeed }
        return header
    }

    /// Visits the file's records that continue the chain; returns the offset
    /// where they end (the file's size when verify read on past a problem).
    mutating func readRecords(
        _ raw: UnsafeRawBufferPointer, path: String, epochSeed: UInt32, visit: (WALRecord) throws -> Void
    ) throws -> Int {
        var offset = WALFormat.fileHeaderBytes
        while offset + WALFormat.recordHeaderBytes <= raw.count {
            if let record = WALRecordHeader.standalone(raw, at: offset, epochSeed: epochSeed),
                !stopped, record.lsn == expectedLSN, record.previousCRC == previousCRC
            {
                let payloadStart = offset + WALFormat.recordHeaderBytes
                try visit(
                    WALRecord(
                        path: path, offset: offset, header: record,
                        payload: UnsafeRawBufferPointer(rebasing: raw[payloadStart..<(payloadStart + record.payloadBytes)])))
                result.recordCount += 1
                result.endsWithClose = record.type == WALFormat.recordTypeClose
                expectedLSN += 1
                previousCRC = record.crc
                offset += WALFormat.recordBytes(payloadBytes: record.payloadBytes)
                continue
            }
            guard stopped else { return offset }
            // verify after a problem: keep checking records that validate on
            // their own, resynchronising on them.
            if let record = WALRecordHeader.standalone(raw, at: offset, epochSeed: epochSeed) {
                offset += WALFormat.recordBytes(payloadBytes: record.payloadBytes)
            } else {
                offset += 8
            }
        }
        return raw.count
    }

    /// What follows the file's last chained record at `end`: zeros (the
    /// end), a torn tail (last file only), or corruption when anything
    /// valid follows, in this file or in a later one.
    mutating func classifyEnd(_ raw: UnsafeRawBufferPointer, at end: Int, path: String, header: WALFileHeader, isLast: Bool) throws {
        guard !stopped else { return }
        if let later = WALReader.firstValidRecord(raw, from: end + 8, after: expectedLSN - 1, epochSeed: header.epochSeed) {
            try fail(
                path, end, "corrupt record before valid data",
                "the record at \(end) is invalid but a valid record (LSN \(later.lsn)) follows at offset \(later.offset)")
            return
        }
        guard isLast else {
            let headerIsZero = end + WALFormat.recordHeaderBytes > raw.count || _LE.isZero(raw, end, WALFormat.recordHeaderBytes)
            if !headerIsZero {
                try fail(path, end, "corrupt record before a later file", "invalid bytes at \(end) and the log continues in a later file")
            }
            return
        }
        result.lastFilePath = path
        result.lastFileHeader = header
        result.appendOffset = end
        let tail = UnsafeRawBufferPointer(rebasing: raw[end...])
        if !tail.allSatisfy({ $0 == 0 }) { result.tornTailOffset = end }
    }
}
