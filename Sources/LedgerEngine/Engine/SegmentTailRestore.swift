// `ledgerctl recover --from-segments`: restores acknowledged groups that the
// WAL lost at its end (its last records damaged, so they read as a torn
// tail) from the open month's segment, which holds their applied events
// behind a synced frontier. See Specs/wal-format.md ("Restoring a lost tail
// from the segments").
//
// What can be restored: the events each group applied (a segment files only
// events whose result was `ok`), with their LSNs and timestamps. Rejected
// events changed nothing and are not in the segment, so a restored group
// holds fewer events than the lost one when some were rejected, and its
// SHA-256 chain value is then new (the report says whether it equals the
// value still readable in the damaged record).
//
// Order, so that every check passes before the first byte is written:
// exclusive lock → read-only recovery up to the WAL's end → the segment's
// records beyond it, through its synced frontier, one or more per LSN with
// no LSN missing → groups encoded and sealed (same LSNs: an LSN is never
// given to other data) → replayed onto the recovered state, every event
// `ok` and the chain linked → room in the last WAL file. Then: the damaged
// bytes are copied to `recovery/` (fsync, directory fsync), the records are
// written over them, and the WAL file is synced.

public enum SegmentTailRestore {
    public struct Report: Sendable {
        public var walPath: String
        public var offset: Int
        public var lsns: ClosedRange<UInt64>
        public var events: Int
        /// Where the bytes written over were kept (nil: they were all zero).
        public var savedBytesPath: String?
        /// The first restored group's chain value equals the one readable in
        /// the damaged record (nil: not readable there).
        public var chainMatchesDamagedRecord: Bool?
    }

    struct Record {
        var lsn: UInt64
        var timestamp: UInt64
        var event: [UInt8]
    }

    public static func run(at path: String, storage: any Storage = POSIXStorage(), log: @escaping @Sendable (String) -> Void = { _ in }) throws -> Report {
        let layout = DataDirectoryLayout(root: path)
        guard storage.fileExists(layout.metaPath) else { throw try DataDirectoryMeta.missingError(storage: storage, layout: layout) }
        let lock = try storage.lockFile(layout.lockPath)
        defer { lock.release() }
        let meta = try DataDirectoryMeta.read(storage: storage, layout: layout)
        var options = Ledger.Options()
        options.log = log
        let recovered = try Ledger.recoverState(storage: storage, layout: layout, meta: meta, options: options, readOnly: true, segmentsBeyondWAL: .report)
        guard let beyond = recovered.segmentsBeyondWAL else {
            throw LedgerError(
                .invalidInput, "nothing to restore: no segment holds synced records beyond the WAL's end (LSN \(recovered.scan.lastLSN))", path: layout.root)
        }
        let scan = recovered.scan
        guard beyond.path == recovered.segments.current?.path, let fileHeader = scan.lastFileHeader else {
            throw LedgerError(
                .corruption,
                "\(beyond.path) is a sealed month beyond the WAL's end; this command restores from the open month only. Nothing was changed; investigate with `ledgerctl verify`",
                path: beyond.path)
        }
        let records = try recordsBeyond(scan.lastLSN, through: beyond.lastLSN, in: beyond.path, storage: storage)
        let payloads = try groupPayloads(records, chain: recovered.chain)
        let sealed = seal(payloads, firstLSN: scan.lastLSN + 1, previousCRC: scan.lastCRC, epochSeed: fileHeader.epochSeed)
        try checkReplay(sealed, payloads: payloads, recovered: recovered, path: scan.lastFilePath, at: scan.appendOffset)
        guard scan.appendOffset + sealed.count <= Int(fileHeader.fileBytes) else {
            throw LedgerError(
                .noSpace,
                "the restored groups need \(sealed.count) bytes; \(scan.lastFilePath) has \(Int(fileHeader.fileBytes) - scan.appendOffset) after offset \(scan.appendOffset). Nothing was changed",
                path: scan.lastFilePath)
        }
        // Checks done; from here on, writes.
        let file = try storage.openFile(scan.lastFilePath, create: false)
        defer { file.close() }
        let old = try file.readExactly(Int(fileHeader.fileBytes) - scan.appendOffset, at: scan.appendOffset)
        let oldEnd = (old.lastIndex { $0 != 0 } ?? -1) + 1
        let chainMatches = damagedChainValue(old, epochSeed: fileHeader.epochSeed).map { value in
            payloads[0].withUnsafeBytes { WALGroupPayload.chainHash($0) } == value
        }
        var savedPath: String?
        if oldEnd > 0 {
            savedPath = try save(Array(old[0..<oldEnd]), walPath: scan.lastFilePath, offset: scan.appendOffset, layout: layout, storage: storage)
        }
        let written = sealed + [UInt8](repeating: 0, count: max(0, oldEnd - sealed.count))
        try written.withUnsafeBytes { try file.write($0, at: scan.appendOffset) }
        try file.sync()
        log("restored LSN \(scan.lastLSN + 1)...\(beyond.lastLSN) (\(records.count) events) into \(scan.lastFilePath) at offset \(scan.appendOffset)")
        return Report(
            walPath: scan.lastFilePath, offset: scan.appendOffset, lsns: (scan.lastLSN + 1)...beyond.lastLSN, events: records.count,
            savedBytesPath: savedPath, chainMatchesDamagedRecord: chainMatches)
    }

    /// The segment's records with LSN in (walLastLSN, throughLSN], every
    /// LSN between present.
    static func recordsBeyond(_ walLastLSN: UInt64, through lastLSN: UInt64, in path: String, storage: any Storage) throws -> [Record] {
        var records: [Record] = []
        _ = try SegmentReader.scan(storage: storage, path: path) { record in
            guard record.header.lsn > walLastLSN && record.header.lsn <= lastLSN else { return }
            records.append(Record(lsn: record.header.lsn, timestamp: record.header.timestamp, event: Array(record.event)))
        }
        var expected = walLastLSN + 1  // the next LSN not yet seen
        for record in records {
            if record.lsn == expected {
                expected += 1
            } else if record.lsn != expected - 1 {
                throw LedgerError(
                    .corruption,
                    "\(path) holds no event of LSN \(expected) (its events may all have been rejected): that group cannot be restored. Nothing was changed",
                    path: path)
            }
        }
        guard expected == lastLSN + 1 else {
            throw LedgerError(
                .corruption,
                "\(path) ends its records at LSN \(expected - 1), before its synced frontier's LSN \(lastLSN). Nothing was changed; investigate with `ledgerctl inspect segment`",
                path: path)
        }
        return records
    }

    /// One group payload per LSN (WAL format: header, batches of events with
    /// consecutive timestamps, results all `ok`), chained from `chain`.
    static func groupPayloads(_ records: [Record], chain start: HashChain) throws -> [[UInt8]] {
        var chain = start
        var payloads: [[UInt8]] = []
        var index = 0
        while index < records.count {
            let lsn = records[index].lsn
            var batches: [[Record]] = []
            while index < records.count && records[index].lsn == lsn {
                let record = records[index]
                if let last = batches.last?.last, last.timestamp + 1 == record.timestamp, batches[batches.count - 1].count < Limits.batchEventsMax {
                    batches[batches.count - 1].append(record)
                } else {
                    batches.append([record])
                }
                index += 1
            }
            let payloadBytes = batches.reduce(WALFormat.groupHeaderBytes) {
                $0 + WALGroupPayload.batchBytes(eventCount: $1.count, eventBytes: $1.reduce(0) { $0 + $1.event.count })
            }
            guard payloadBytes <= Limits.groupPayloadBytesMax else {
                throw LedgerError(
                    .invalidInput, "the group of LSN \(lsn) would be \(payloadBytes) bytes, above the limit \(Limits.groupPayloadBytesMax). Nothing was changed"
                )
            }
            var payload = [UInt8](repeating: 0, count: payloadBytes)
            let value = payload.withUnsafeMutableBytes { p in
                WALGroupPayload.begin(p)
                var offset = WALFormat.groupHeaderBytes
                for batch in batches {
                    let events = batch.flatMap(\.event)
                    offset = events.withUnsafeBytes {
                        WALGroupPayload.putBatch(
                            p, at: offset, timestamp: batch[0].timestamp, eventCount: batch.count, events: $0,
                            results: ArraySlice(repeating: ResultCode.ok, count: batch.count))
                    }
                }
                WALGroupPayload.finish(p, batchCount: batches.count)
                // Committed LSN: every earlier group is durable.
                return WALGroupPayload.seal(p, lsn: lsn, committedLSN: lsn - 1, chain: chain)
            }
            chain.advance(to: value)
            payloads.append(payload)
        }
        return payloads
    }

    /// The records, sealed back to back as the WAL writer seals them.
    static func seal(_ payloads: [[UInt8]], firstLSN: UInt64, previousCRC: UInt32, epochSeed: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        var previous = previousCRC
        for (i, payload) in payloads.enumerated() {
            var record = [UInt8](repeating: 0, count: WALFormat.recordBytes(payloadBytes: payload.count))
            record.replaceSubrange(WALFormat.recordHeaderBytes..<(WALFormat.recordHeaderBytes + payload.count), with: payload)
            previous = record.withUnsafeMutableBytes {
                WALRecordHeader.seal(
                    $0, payloadBytes: payload.count, type: WALFormat.recordTypeGroup, lsn: firstLSN + UInt64(i), previousCRC: previous, epochSeed: epochSeed)
            }
            out += record
        }
        return out
    }

    /// Replays the sealed records onto a copy of the recovered state, as
    /// recovery will: every record decodes, links the chain, and every event
    /// gives `ok` again.
    static func checkReplay(_ sealed: [UInt8], payloads: [[UInt8]], recovered: Ledger.RecoveredState, path: String, at offset: Int) throws {
        var machine = recovered.machine
        var chain = recovered.chain
        var results: [ResultCode] = []
        var position = 0
        try sealed.withUnsafeBytes { raw in
            for payload in payloads {
                guard let header = WALRecordHeader.standalone(raw, at: position, epochSeed: recovered.scan.lastFileHeader!.epochSeed) else {
                    preconditionFailure("a record sealed here does not read back")
                }
                let body = UnsafeRawBufferPointer(
                    rebasing: raw[(position + WALFormat.recordHeaderBytes)..<(position + WALFormat.recordHeaderBytes + payload.count)])
                do {
                    try Ledger.replayRecord(
                        WALRecord(path: path, offset: offset + position, header: header, payload: body), into: &machine, chain: &chain, results: &results,
                        evicted: recovered.evicted)
                } catch let error as LedgerError {
                    throw LedgerError(
                        .corruption,
                        "the segment's events do not replay onto the WAL's state (\(error.message)). Nothing was changed; investigate with `ledgerctl verify`",
                        path: path)
                }
                position += WALFormat.recordBytes(payloadBytes: payload.count)
            }
        }
    }

    /// The chain field of the damaged record, when its header still names a
    /// payload long enough to hold one (its CRC fails: that is the damage).
    static func damagedChainValue(_ old: [UInt8], epochSeed: UInt32) -> [UInt8]? {
        let start = WALFormat.recordHeaderBytes + HashChain.fieldOffset
        guard old.count >= start + HashChain.hashBytes else { return nil }
        let payloadBytes = old.withUnsafeBytes { Int(_LE.u32($0, 0)) }
        guard payloadBytes >= WALFormat.groupHeaderBytes, old[4] == WALFormat.recordTypeGroup else { return nil }
        return Array(old[start..<(start + HashChain.hashBytes)])
    }

    /// Keeps `bytes` in recovery/ (created and synced as needed).
    static func save(_ bytes: [UInt8], walPath: String, offset: Int, layout: DataDirectoryLayout, storage: any Storage) throws -> String {
        if !storage.fileExists(layout.recoveryDirectory) {
            try storage.makeDirectory(layout.recoveryDirectory)
            try storage.syncDirectory(layout.root)
        }
        let path = layout.replacedWALBytesPath(walPath: walPath, offset: offset)
        guard !storage.fileExists(path) else {
            throw LedgerError(.invalidInput, "\(path) exists already; it holds bytes an earlier repair replaced. Nothing was changed", path: path)
        }
        let file = try storage.openFile(path, create: true)
        defer { file.close() }
        try bytes.withUnsafeBytes { try file.write($0, at: 0) }
        try file.sync()
        try storage.syncDirectory(layout.recoveryDirectory)
        return path
    }
}
