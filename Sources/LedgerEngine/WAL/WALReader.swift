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
    public func scan(
        mode: Mode, progress: ((Int, Int) -> Void)? = nil, visit: (WALRecord) throws -> Void
    ) throws -> WALScanResult {
        let files = try walFiles()
        guard !files.isEmpty else {
            throw LedgerError(.notInitialized, "no WAL files; run `ledgerctl init`", path: layout.root)
        }
        var result = WALScanResult()
        // Compaction deletes WAL files from the front: the log starts where
        // its first file does. Whether that is early enough is the caller's
        // check (recovery and verify compare it with the snapshots).
        var expectedLSN: UInt64 = files[0].firstLSN
        result.firstLSN = files[0].firstLSN
        var previousCRC: UInt32 = 0
        var stopped = false  // after the first problem, verify only checks checksums
        let bytesTotal = files.count  // progress in files; sizes are uniform

        func fail(_ path: String, _ offset: Int, _ kind: String, _ message: String) throws {
            let problem = WALProblem(path: path, offset: offset, kind: kind, message: message)
            if mode == .recover {
                throw LedgerError(
                    .corruption,
                    "\(kind): \(message). Refusing to open; investigate with `ledgerctl verify` and `ledgerctl inspect wal`",
                    path: path, offset: offset)
            }
            result.problems.append(problem)
            stopped = true
        }

        var buffer: [UInt8] = []
        for (fileIndex, (firstLSN, path)) in files.enumerated() {
            progress?(fileIndex, bytesTotal)
            let isLast = fileIndex == files.count - 1
            let file = try storage.openFileForReading(path)
            defer { file.close() }
            let header: WALFileHeader
            do {
                header = try WALFileHeader.decode(try file.readExactly(WALFormat.fileHeaderUsedBytes, at: 0), path: path)
            } catch let error as LedgerError where error.code == .corruption {
                try fail(path, error.offset ?? 0, "bad file header", error.message)
                continue
            }
            let actualBytes = try file.size()
            guard header.firstLSN == firstLSN, Int(header.fileBytes) == actualBytes, actualBytes > WALFormat.fileHeaderBytes else {
                try fail(path, 0, "bad file geometry", "name says first LSN \(firstLSN), header says \(header.firstLSN); header says \(header.fileBytes) bytes, file has \(actualBytes)")
                continue
            }
            if !stopped && (header.firstLSN != expectedLSN || (fileIndex > 0 && header.chainSeed != previousCRC)) {
                try fail(path, 0, "broken chain", "file starts at LSN \(header.firstLSN) with chain seed \(header.chainSeed); expected LSN \(expectedLSN) and seed \(previousCRC) (a WAL file is missing or foreign)")
            }
            if fileIndex == 0 { previousCRC = header.chainSeed }
            buffer = try file.readExactly(actualBytes, at: 0)
            result.fileCount += 1
            result.bytesScanned += actualBytes
            let epochSeed = header.epochSeed

            try buffer.withUnsafeBytes { raw in
                var offset = WALFormat.fileHeaderBytes
                var endOffset: Int? = nil
                while offset + WALFormat.recordHeaderBytes <= raw.count {
                    if let record = WALRecordHeader.standalone(raw, at: offset, epochSeed: epochSeed),
                        !stopped, record.lsn == expectedLSN, record.previousCRC == previousCRC
                    {
                        let payloadStart = offset + WALFormat.recordHeaderBytes
                        try visit(WALRecord(
                            path: path, offset: offset, header: record,
                            payload: UnsafeRawBufferPointer(rebasing: raw[payloadStart..<(payloadStart + record.payloadBytes)])))
                        result.recordCount += 1
                        result.endsWithClose = record.type == WALFormat.recordTypeClose
                        expectedLSN += 1
                        previousCRC = record.crc
                        offset += WALFormat.recordBytes(payloadBytes: record.payloadBytes)
                        continue
                    }
                    if stopped {
                        // verify after a problem: keep checking records that
                        // validate on their own, resynchronising on them.
                        if let record = WALRecordHeader.standalone(raw, at: offset, epochSeed: epochSeed) {
                            offset += WALFormat.recordBytes(payloadBytes: record.payloadBytes)
                        } else {
                            offset += 8
                        }
                        continue
                    }
                    endOffset = offset
                    break
                }
                let end = endOffset ?? raw.count
                // Anything valid after `end` in this file, or any record in a
                // later file, means acknowledged data lies beyond: corruption.
                if !stopped, let later = Self.firstValidRecord(raw, from: end + 8, after: expectedLSN - 1, epochSeed: epochSeed) {
                    try fail(path, end, "corrupt record before valid data", "the record at \(end) is invalid but a valid record (LSN \(later.lsn)) follows at offset \(later.offset)")
                    return
                }
                if !stopped && !isLast {
                    let headerIsZero = end + WALFormat.recordHeaderBytes > raw.count || _LE.isZero(raw, end, WALFormat.recordHeaderBytes)
                    if !headerIsZero {
                        try fail(path, end, "corrupt record before a later file", "invalid bytes at \(end) and the log continues in a later file")
                        return
                    }
                }
                if !stopped && isLast {
                    result.lastFilePath = path
                    result.lastFileHeader = header
                    result.appendOffset = end
                    let tail = UnsafeRawBufferPointer(rebasing: raw[end...])
                    if !tail.allSatisfy({ $0 == 0 }) { result.tornTailOffset = end }
                }
            }
        }
        progress?(bytesTotal, bytesTotal)
        result.lastLSN = expectedLSN - 1
        result.lastCRC = previousCRC
        return result
    }

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
