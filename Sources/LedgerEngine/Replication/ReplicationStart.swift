// The primary's decision on a `replicate` request (Specs/replication.md,
// "replicate request", checks 3 to 6): is the standby on a timeline this log
// went through, does it share this log's history up to its last durable
// LSN, and is the WAL after it still here?
// A pure reading of the primary's files: it writes nothing, and the server
// turns the answer into the stream or a terminal status.

public enum ReplicationStart: Equatable, Sendable {
    /// Stream from this LSN (the standby's last durable LSN + 1).
    case stream(fromLSN: UInt64)
    /// The standby's history is not this log's: a new base backup is needed.
    case diverged(String)
    /// The WAL the standby needs was compacted away.
    case needBaseBackup(String)
    /// The standby is on a newer timeline: a standby was promoted past
    /// this primary, which must take no more writes.
    case newerTimeline(UInt64)

    /// Decides for a standby of `standbyDirectoryID` that holds the log
    /// through `standbyLastLSN` with `standbyChainValue` (the chain value
    /// after its last group record at or before that LSN; zeros for none).
    public static func decide(
        storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], durableLSN: UInt64, history: TimelineHistory, standbyTimeline: UInt64,
        standbyDirectoryID: [UInt8], standbyLastLSN: UInt64, standbyChainValue: [UInt8]
    ) throws -> ReplicationStart {
        guard standbyDirectoryID == directoryID else { return .diverged("the standby belongs to another ledger (directory id differs)") }
        guard standbyTimeline <= history.current else { return .newerTimeline(standbyTimeline) }
        switch history.endLSN(of: standbyTimeline) {
        case .none:
            return .diverged("the standby is on timeline \(standbyTimeline), which this primary's history (timeline \(history.current)) never went through")
        case .some(.some(let forkLSN)) where standbyLastLSN > forkLSN:
            return .diverged(
                "the standby holds LSN \(standbyLastLSN) of timeline \(standbyTimeline), past LSN \(forkLSN) where this primary's timeline \(standbyTimeline + 1) forked from it; take a new base backup"
            )
        case .some:
            break
        }
        guard standbyLastLSN <= durableLSN else {
            return .diverged("the standby holds LSN \(standbyLastLSN), past this primary's durable end \(durableLSN)")
        }
        let files = try WALReader(storage: storage, layout: layout).walFiles()
        guard let oldest = files.first?.firstLSN else { throw LedgerError(.notInitialized, "no WAL files", path: layout.root) }
        if standbyLastLSN == 0 {
            return oldest == 1 ? .stream(fromLSN: 1) : .needBaseBackup("the WAL from LSN 1 was compacted; start from a base backup")
        }
        guard standbyLastLSN >= oldest else {
            return .needBaseBackup("the standby's LSN \(standbyLastLSN) is before the oldest WAL record kept (LSN \(oldest))")
        }
        guard let chain = try chainValue(through: standbyLastLSN, storage: storage, layout: layout) else {
            return .needBaseBackup("no group record at or before LSN \(standbyLastLSN) is kept, so the standby's history cannot be checked")
        }
        guard chain == standbyChainValue else {
            return .diverged("at LSN \(standbyLastLSN) the standby's chain value differs from this log's: its history is another one")
        }
        return .stream(fromLSN: standbyLastLSN + 1)
    }

    /// The chain value after the last group record at or before `lsn`
    /// (nil when the kept WAL has none). Reads only the file holding `lsn`
    /// (and earlier ones while they hold no group), record by record with
    /// every CRC checked; records at or below the durable LSN are never
    /// rewritten, so this runs beside the writer. A close record has no
    /// chain value: the value is the last group's before it.
    static func chainValue(through lsn: UInt64, storage: any Storage, layout: DataDirectoryLayout) throws -> [UInt8]? {
        let files = try WALReader(storage: storage, layout: layout).walFiles()
        guard var index = files.lastIndex(where: { $0.firstLSN <= lsn }) else { return nil }
        var mustReach: UInt64? = lsn
        while index >= 0 {
            if let value = try lastGroupChainValue(in: files[index].path, storage: storage, through: lsn, mustReach: mustReach) { return value }
            mustReach = nil
            index -= 1
        }
        return nil
    }

    private static func lastGroupChainValue(in path: String, storage: any Storage, through lsn: UInt64, mustReach: UInt64?) throws -> [UInt8]? {
        let file = try open(path, storage: storage)
        defer { file.handle.close() }
        var value: [UInt8]?
        var offset = WALFormat.fileHeaderBytes
        var at = file.header.firstLSN
        while at <= lsn, offset + WALFormat.recordHeaderBytes <= Int(file.header.fileBytes) {
            let payloadBytes = try file.handle.readExactly(4, at: offset).withUnsafeBytes { Int(_LE.u32($0, 0)) }
            guard payloadBytes <= WALFormat.recordPayloadBytesMax, offset + WALFormat.recordBytes(payloadBytes: payloadBytes) <= Int(file.header.fileBytes)
            else { break }
            let record = try file.handle.readExactly(WALFormat.recordBytes(payloadBytes: payloadBytes), at: offset)
            guard let header = record.withUnsafeBytes({ WALRecordHeader.standalone($0, at: 0, epochSeed: file.header.epochSeed) }), header.lsn == at
            else { break }
            if header.type == WALFormat.recordTypeGroup && payloadBytes >= WALFormat.groupHeaderBytes {
                value = record.withUnsafeBytes {
                    WALGroupPayload.chainHash(UnsafeRawBufferPointer(rebasing: $0[WALFormat.recordHeaderBytes..<(WALFormat.recordHeaderBytes + payloadBytes)]))
                }
            }
            offset += record.count
            at += 1
        }
        if let mustReach, at <= mustReach {
            throw LedgerError(
                .corruption, "LSN \(mustReach) cannot be read back from the WAL (it ends at LSN \(at - 1)); investigate with `ledgerctl verify`", path: path,
                offset: offset)
        }
        return value
    }

    private static func open(_ path: String, storage: any Storage) throws -> (handle: any ReadableFile, header: WALFileHeader) {
        let handle = try storage.openFileForReading(path)
        return (handle, try WALFileHeader.decode(try handle.readExactly(WALFormat.fileHeaderUsedBytes, at: 0), path: path))
    }
}
