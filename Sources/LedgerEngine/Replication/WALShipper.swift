// The primary's side of log shipping (Specs/replication.md, "replication
// messages"): reads its own WAL files from an LSN on and cuts them into
// `walFile` and `walRecords` messages, the records byte for byte as they are
// on disk (each with its CRC and, for groups, its SHA-256 chain value), so a
// standby's WAL files become byte-identical to the primary's.
//
// It reads only records at or below the durable LSN it is given: those were
// fdatasync'd and are never rewritten, so reading them while the writer
// appends after them is safe. It holds one file open and a cursor (file,
// offset, next LSN); each call returns at most `maxBytes` of record bytes,
// so what a standby has not acknowledged stays on the primary's disk.

public struct WALShipper {
    public enum Message: Equatable, Sendable {
        /// A WAL file the standby creates: its first `WALFormat.fileHeaderUsedBytes` bytes.
        case walFile(header: [UInt8])
        /// Whole records as on disk (padding included), the first with
        /// `firstLSN`, at `offset` in the current file.
        case walRecords(firstLSN: UInt64, offset: Int, bytes: [UInt8])
    }

    let storage: any Storage
    let layout: DataDirectoryLayout
    /// The next LSN to ship.
    public private(set) var nextLSN: UInt64
    private var file: (handle: any ReadableFile, header: WALFileHeader, offset: Int)?
    private var headerSent = false

    /// Ships from `lsn` on (1, or the standby's last durable LSN + 1).
    public init(storage: any Storage, layout: DataDirectoryLayout, from lsn: UInt64) {
        precondition(lsn >= 1, "LSN \(lsn)")
        self.storage = storage
        self.layout = layout
        self.nextLSN = lsn
    }

    /// The next messages: records from `nextLSN` through `durableLSN`, at
    /// most `maxBytes` of them (but always whole records, and at least one
    /// when one is due), preceded by the header of every file they start.
    /// Empty when nothing is due. Throws `needBaseBackup`-worthy
    /// `notInitialized` when the file holding `nextLSN` is gone (compacted),
    /// and `corruption` when a record does not read back valid.
    public mutating func next(throughLSN durableLSN: UInt64, maxBytes: Int) throws -> [Message] {
        precondition(maxBytes >= WALFormat.recordHeaderBytes, "maxBytes \(maxBytes)")
        var messages: [Message] = []
        var shipped = 0
        while nextLSN <= durableLSN && shipped < maxBytes {
            if file == nil || fileEnded() { try openFile(holding: nextLSN) }
            if !headerSent, let file {
                messages.append(.walFile(header: file.header.encoded().prefix(WALFormat.fileHeaderUsedBytes).map { $0 }))
                headerSent = true
            }
            let (records, count) = try readRecords(through: durableLSN, maxBytes: maxBytes - shipped)
            guard count > 0 else { break }
            messages.append(.walRecords(firstLSN: nextLSN, offset: file!.offset, bytes: records))
            file!.offset += records.count
            nextLSN += UInt64(count)
            shipped += records.count
        }
        return messages
    }

    /// Whether the cursor is past the last record of its file (the next
    /// LSN lives in a later file).
    private func fileEnded() -> Bool {
        guard let file else { return true }
        return file.offset + WALFormat.recordHeaderBytes > Int(file.header.fileBytes)
            || (try? readHeader(at: file.offset)) == nil
    }

    /// Opens the file whose records include `lsn` and seeks to it.
    private mutating func openFile(holding lsn: UInt64) throws {
        file?.handle.close()
        file = nil
        let files = try WALReader(storage: storage, layout: layout).walFiles()
        guard let entry = files.last(where: { $0.firstLSN <= lsn }), files.first!.firstLSN <= lsn else {
            throw LedgerError(.notInitialized, "the WAL holding LSN \(lsn) was compacted; the standby needs a new base backup", path: layout.root)
        }
        let handle = try storage.openFileForReading(entry.path)
        let header = try WALFileHeader.decode(try handle.readExactly(WALFormat.fileHeaderUsedBytes, at: 0), path: entry.path)
        file = (handle, header, WALFormat.fileHeaderBytes)
        headerSent = header.firstLSN != lsn  // a standby holding records of this file has it already
        var at = header.firstLSN
        while at < lsn {
            guard let record = try readHeader(at: file!.offset) else {
                throw LedgerError(.corruption, "LSN \(lsn) is not in \(entry.path), which ends at LSN \(at - 1)", path: entry.path, offset: file!.offset)
            }
            file!.offset += WALFormat.recordBytes(payloadBytes: record.payloadBytes)
            at += 1
        }
    }

    /// The record header at `offset` in the current file, checked with the
    /// record's CRC; nil past the last record.
    private func readHeader(at offset: Int) throws -> WALRecordHeader? {
        guard let file, offset + WALFormat.recordHeaderBytes <= Int(file.header.fileBytes) else { return nil }
        let head = try file.handle.readExactly(WALFormat.recordHeaderBytes, at: offset)
        let payloadBytes = head.withUnsafeBytes { Int(_LE.u32($0, 0)) }
        guard payloadBytes <= WALFormat.recordPayloadBytesMax, offset + WALFormat.recordBytes(payloadBytes: payloadBytes) <= Int(file.header.fileBytes)
        else { return nil }
        let record = try file.handle.readExactly(WALFormat.recordBytes(payloadBytes: payloadBytes), at: offset)
        return record.withUnsafeBytes { WALRecordHeader.standalone($0, at: 0, epochSeed: file.header.epochSeed) }
    }

    /// Whole records from the cursor, in LSN order, up to `durableLSN` and
    /// `maxBytes` (at least one record), and how many.
    private func readRecords(through durableLSN: UInt64, maxBytes: Int) throws -> ([UInt8], Int) {
        guard let file else { return ([], 0) }
        var bytes: [UInt8] = []
        var lsn = nextLSN
        var offset = file.offset
        while lsn <= durableLSN, let record = try readHeader(at: offset) {
            guard record.lsn == lsn else {
                throw LedgerError(.corruption, "record at offset \(offset) has LSN \(record.lsn), expected \(lsn)", path: file.handle.path, offset: offset)
            }
            let size = WALFormat.recordBytes(payloadBytes: record.payloadBytes)
            if !bytes.isEmpty && bytes.count + size > maxBytes { break }
            bytes += try file.handle.readExactly(size, at: offset)
            offset += size
            lsn += 1
        }
        return (bytes, Int(lsn - nextLSN))
    }
}
