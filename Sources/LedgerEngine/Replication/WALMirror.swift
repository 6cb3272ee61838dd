// The standby's side of log shipping (Specs/replication.md): writes the
// primary's `walFile` and `walRecords` messages into its own WAL, so its
// files are byte-identical to the primary's. Every check passes before a
// byte of a message is written: a file starts at the next LSN and continues
// the CRC chain; every record validates with the file's epoch seed, has the
// next LSN, chains to the previous record's CRC and lands at the current
// append offset. A failed check throws `corruption` naming the LSN and what
// failed, and nothing of that message is written.
//
// Crash-safe order: a new file is prepared (zeros, fdatasync), given the
// primary's header, renamed into place and the directory synced, as the
// writer does; records are written after the last valid one and made
// durable by `sync()` (fdatasync) before the standby acknowledges them, so
// whatever a crash leaves after the synced end is a torn tail that recovery
// truncates and the primary sends again. Replaying what was mirrored (the
// SHA-256 chain and every recorded result) is the applying side's job.

public final class WALMirror {
    let storage: any Storage
    let layout: DataDirectoryLayout
    /// The next LSN expected, and the masked CRC of the record before it.
    public private(set) var nextLSN: UInt64
    private var lastCRC: UInt32
    private var file: (handle: any StorageFile, header: WALFileHeader, appendOffset: Int)?
    private let walFileBytes: Int

    /// Continues the standby's WAL as recovery left it (`scan` of its own
    /// files, torn tail already truncated), with files of `walFileBytes`.
    public init(storage: any Storage, layout: DataDirectoryLayout, scan: WALScanResult, walFileBytes: Int) throws {
        self.storage = storage
        self.layout = layout
        self.walFileBytes = walFileBytes
        nextLSN = scan.lastLSN + 1
        lastCRC = scan.lastCRC
        if let header = scan.lastFileHeader {
            file = (try storage.openFile(scan.lastFilePath, create: false), header, scan.appendOffset)
        }
    }

    deinit { file?.handle.close() }

    public func apply(_ message: WALShipper.Message) throws {
        switch message {
        case .walFile(let bytes): try startFile(bytes)
        case .walRecords(let firstLSN, let offset, let bytes): try append(firstLSN: firstLSN, offset: offset, bytes)
        }
    }

    /// fdatasync: what was applied is durable; only then may the standby
    /// report it (and a synchronous primary count it).
    public func sync() throws { try file?.handle.sync() }

    private func startFile(_ bytes: [UInt8]) throws {
        let header = try WALFileHeader.decode(bytes, path: "replicated WAL file header")
        guard header.firstLSN == nextLSN, header.chainSeed == lastCRC, Int(header.fileBytes) == walFileBytes else {
            throw LedgerError(
                .corruption,
                "replicated WAL file starts at LSN \(header.firstLSN) with chain seed \(header.chainSeed) and \(header.fileBytes) bytes; expected LSN \(nextLSN), seed \(lastCRC), \(walFileBytes) bytes"
            )
        }
        try sync()  // everything in the current file is durable before it is left
        file?.handle.close()
        file = nil
        try WALFilePreparer.prepare(storage: storage, path: layout.walNextTemporaryPath, fileBytes: walFileBytes)
        let (handle, installed) = try WALWriter.install(storage: storage, layout: layout, header: header)
        file = (handle, installed, WALFormat.fileHeaderBytes)
    }

    private func append(firstLSN: UInt64, offset: Int, _ bytes: [UInt8]) throws {
        guard let current = file else { throw LedgerError(.corruption, "replicated records (LSN \(firstLSN)) before any WAL file") }
        guard firstLSN == nextLSN, offset == current.appendOffset, offset + bytes.count <= Int(current.header.fileBytes) else {
            throw LedgerError(
                .corruption,
                "replicated records start at LSN \(firstLSN), offset \(offset), \(bytes.count) bytes; expected LSN \(nextLSN) at offset \(current.appendOffset) of a \(current.header.fileBytes)-byte file"
            )
        }
        let (count, crc) = try Self.check(bytes, firstLSN: firstLSN, previousCRC: lastCRC, epochSeed: current.header.epochSeed)
        try current.handle.write(bytes, at: offset)
        file!.appendOffset += bytes.count
        nextLSN += UInt64(count)
        lastCRC = crc
    }

    /// Checks whole records back to back; returns how many and the last CRC.
    static func check(_ bytes: [UInt8], firstLSN: UInt64, previousCRC: UInt32, epochSeed: UInt32) throws -> (Int, UInt32) {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            var lsn = firstLSN
            var previous = previousCRC
            while offset < raw.count {
                guard let record = WALRecordHeader.standalone(raw, at: offset, epochSeed: epochSeed) else {
                    throw LedgerError(.corruption, "replicated record LSN \(lsn) fails its checksum or structure")
                }
                guard record.lsn == lsn, record.previousCRC == previous else {
                    throw LedgerError(
                        .corruption, "replicated record has LSN \(record.lsn) chained to CRC \(record.previousCRC); expected LSN \(lsn) after CRC \(previous)")
                }
                offset += WALFormat.recordBytes(payloadBytes: record.payloadBytes)
                previous = record.crc
                lsn += 1
            }
            guard offset == raw.count, lsn > firstLSN else { throw LedgerError(.corruption, "replicated records do not end on a record boundary") }
            return (Int(lsn - firstLSN), previous)
        }
    }
}
