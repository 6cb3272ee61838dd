// The standby's side of log shipping (Specs/replication.md): its WAL writer
// writes the primary's `walFile` and `walRecords` messages into its own WAL,
// so its files are byte-identical to the primary's. Every check passes
// before a byte of a message is written: a file starts at the next LSN and
// continues the CRC chain; every record validates with the file's epoch
// seed, has the next LSN, chains to the previous record's CRC, lands at the
// current append offset and, for a group, carries the SHA-256 chain value
// that follows the standby's chain head; a timeline record must switch from
// the standby's timeline at the record before it, carrying the chain head
// there (TimelineRecord.swift). A failed check throws `corruption`
// naming the LSN and what failed, and nothing of that message is written.
//
// Crash-safe order: a new file is prepared (zeros, fdatasync), given the
// primary's header, renamed into place and the directory synced, as the
// writer does for its own files; records are written after the last valid
// one and made durable by `sync()` (fdatasync) before the standby
// acknowledges them, so whatever a crash leaves after the synced end is a
// torn tail that recovery truncates and the primary sends again. Replaying
// the records (every recorded result) is the applying side's job
// (Ledger+Replication.swift).

extension WALWriter {
    /// A primary's message, as `WALShipper` cuts it.
    public typealias Message = WALShipper.Message

    /// Writes `message` after every check. `chain` is the chain head after
    /// the records already mirrored; it advances past each group written,
    /// and `timeline` past each timeline record. Returns the records written
    /// (none for a file header).
    @discardableResult
    public func mirror(_ message: Message, chain: inout HashChain, timeline: inout UInt64) throws -> [MirroredRecord] {
        switch message {
        case .walFile(let bytes):
            try mirrorFile(bytes)
            return []
        case .walRecords(let firstLSN, let offset, let bytes):
            return try mirrorRecords(firstLSN: firstLSN, offset: offset, bytes, chain: &chain, timeline: &timeline)
        }
    }

    private func mirrorFile(_ bytes: [UInt8]) throws {
        let incoming = try WALFileHeader.decode(bytes, path: "replicated WAL file header")
        // A file the standby already holds with no record in it (a base
        // backup taken just after a roll): the same header is no news.
        if incoming.firstLSN == nextLSN && header.firstLSN == nextLSN && offset == WALFormat.fileHeaderBytes {
            guard incoming == header else {
                throw LedgerError(.corruption, "replicated WAL file header for LSN \(nextLSN) differs from the one this standby holds")
            }
            return
        }
        guard incoming.firstLSN == nextLSN, incoming.chainSeed == previousCRC, Int(incoming.fileBytes) == fileBytes else {
            throw LedgerError(
                .corruption,
                "replicated WAL file starts at LSN \(incoming.firstLSN) with chain seed \(incoming.chainSeed) and \(incoming.fileBytes) bytes; expected LSN \(nextLSN), seed \(previousCRC), \(fileBytes) bytes"
            )
        }
        try sync()  // everything in the current file is durable before it is left
        preparer.startIfIdle()
        try preparer.waitUntilReady()
        let (newFile, installed) = try Self.install(storage: storage, layout: layout, header: incoming)
        file.close()
        file = newFile
        header = installed
        epochSeed = installed.epochSeed
        offset = WALFormat.fileHeaderBytes
    }

    private func mirrorRecords(
        firstLSN: UInt64, offset recordOffset: Int, _ bytes: [UInt8], chain: inout HashChain, timeline: inout UInt64
    ) throws -> [MirroredRecord] {
        guard firstLSN == nextLSN, recordOffset == offset, recordOffset + bytes.count <= fileBytes else {
            throw LedgerError(
                .corruption,
                "replicated records start at LSN \(firstLSN), offset \(recordOffset), \(bytes.count) bytes; expected LSN \(nextLSN) at offset \(offset) of a \(fileBytes)-byte file"
            )
        }
        var next = (chain, timeline)
        let records = try Self.check(bytes, firstLSN: firstLSN, previousCRC: previousCRC, epochSeed: epochSeed, chain: &next.0, timeline: &next.1)
        // Prepare the next file early, as `append` does.
        if offset >= fileBytes / 4 { preparer.startIfIdle() }
        try file.write(bytes, at: offset)
        offset += bytes.count
        nextLSN += UInt64(records.count)
        previousCRC = records.last!.header.crc
        (chain, timeline) = next
        return records
    }

    /// Checks whole records back to back (CRC, LSN, CRC link, SHA-256 chain
    /// for groups, the switch for timeline records); returns where each one
    /// is in `bytes`.
    static func check(
        _ bytes: [UInt8], firstLSN: UInt64, previousCRC: UInt32, epochSeed: UInt32, chain: inout HashChain, timeline: inout UInt64
    ) throws -> [MirroredRecord] {
        try bytes.withUnsafeBytes { raw in
            var records: [MirroredRecord] = []
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
                let payloadStart = offset + WALFormat.recordHeaderBytes
                let payload = UnsafeRawBufferPointer(rebasing: raw[payloadStart..<(payloadStart + record.payloadBytes)])
                if record.type == WALFormat.recordTypeGroup {
                    guard payload.count >= WALFormat.groupHeaderBytes else {
                        throw LedgerError(.corruption, "replicated record LSN \(lsn): group payload shorter than its header")
                    }
                    let expected = chain.next(lsn: lsn, payload: payload)
                    guard WALGroupPayload.chainHash(payload) == expected else {
                        throw LedgerError(.corruption, "replicated record LSN \(lsn): SHA-256 chain broken (its chain value does not follow the standby's)")
                    }
                    chain.advance(to: expected)
                } else if record.type == WALFormat.recordTypeTimeline {
                    do {
                        timeline = try TimelineSwitch.check(payload, lsn: lsn, currentTimeline: timeline, chainHead: chain.head).timeline
                    } catch let error as LedgerError {
                        throw LedgerError(.corruption, "replicated \(error.message)")
                    }
                }
                records.append(MirroredRecord(header: record, payloadRange: payloadStart..<(payloadStart + record.payloadBytes), offsetInBytes: offset))
                offset += WALFormat.recordBytes(payloadBytes: record.payloadBytes)
                previous = record.crc
                lsn += 1
            }
            guard offset == raw.count, !records.isEmpty else { throw LedgerError(.corruption, "replicated records do not end on a record boundary") }
            return records
        }
    }
}

/// A record a standby mirrored: its checked header and where its payload
/// is in the message's bytes.
public struct MirroredRecord: Sendable, Equatable {
    public var header: WALRecordHeader
    public var payloadRange: Range<Int>
    public var offsetInBytes: Int
}
