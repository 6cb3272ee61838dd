// The data directory's file decoders, each fed one fuzzed file inside an
// otherwise well-formed directory on a SimulatedDisk (in memory, no faults).
// A file that is damaged must be refused or reported, never trap; the
// auditor's `verify` must finish on every directory.

import LedgerTestSupport

@testable import LedgerEngine

enum FileFuzz {
    /// The directory id of every vector (Specs/vectors/generate.py).
    static let directoryID: [UInt8] = Array(0xF0...0xFF)
    static let month = UTCMonth(year: 2026, month: 11)
    static let layout = DataDirectoryLayout(root: "/d")
    static let epoch: [UInt8] = Array(0..<16)

    /// A directory holding `ledger.meta`, a WAL file (`wal`, or one with no
    /// records), and `files`.
    static func directory(wal: [UInt8]? = nil, _ files: [(path: String, bytes: [UInt8])] = []) -> SimulatedDisk {
        let disk = SimulatedDisk(seed: 1)
        let meta = DataDirectoryMeta(walFileBytes: 64 * 1024, directoryID: directoryID).encoded()
        let walPath = layout.root + "/" + DataDirectoryLayout.walFileName(firstLSN: 1)
        do {
            for directory in [layout.root, layout.segmentsDirectory, layout.snapshotsDirectory] { try disk.makeDirectory(directory) }
            for (path, bytes) in [(layout.metaPath, meta), (walPath, wal ?? emptyWAL)] + files {
                let file = try disk.openFile(path, create: true)
                try bytes.withUnsafeBytes { try file.write($0, at: 0) }
                try file.sync()
                file.close()
            }
        } catch {
            fatalError("the in-memory directory could not be written: \(error)")
        }
        return disk
    }

    /// Only `files` (and the directories): what a decoder that opens one
    /// file by path needs, without the cost of writing the rest per input.
    static func bare(_ files: [(path: String, bytes: [UInt8])]) -> SimulatedDisk {
        let disk = SimulatedDisk(seed: 1)
        do {
            for directory in [layout.root, layout.segmentsDirectory, layout.snapshotsDirectory] { try disk.makeDirectory(directory) }
            for (path, bytes) in files {
                let file = try disk.openFile(path, create: true)
                try bytes.withUnsafeBytes { try file.write($0, at: 0) }
                file.close()
            }
        } catch {
            fatalError("the in-memory directory could not be written: \(error)")
        }
        return disk
    }

    static let emptyWAL: [UInt8] = {
        let header = WALFileHeader(fileBytes: 2 * UInt64(WALFormat.fileHeaderBytes), firstLSN: 1, epoch: epoch, chainSeed: 0)
        return header.encoded() + [UInt8](repeating: 0, count: WALFormat.fileHeaderBytes)
    }()

    /// What every fuzzed directory goes through: a read-only open (the
    /// recovery path of `Ledger.open`) with a few queries, and `verify`.
    static func openAndVerify(_ disk: SimulatedDisk) {
        if let reader = try? LedgerReader(at: layout.root, storage: disk) {
            for id: UInt128 in [1, 2] {
                _ = reader.account(id: id)
                _ = try? reader.history(account: id, limit: 10)
                _ = try? reader.balance(account: id, asOfNs: .max)
            }
            _ = try? reader.lookup(entryID: 1001)
            reader.close()
        }
        _ = try? Verifier.verify(at: layout.root, storage: disk)
    }

    static func wal(_ input: [UInt8]) {
        scanWAL(directory(wal: input))
    }

    /// Input: payloads, each prefixed by its length (u16 LE). The harness
    /// seals them as consecutive group records (LSNs from 1, CRC chain, hash
    /// chain), so every payload reaches the group decoder.
    static func walPayloads(_ input: [UInt8]) {
        guard let file = sealedWAL(payloadsIn: input) else { return }
        scanWAL(directory(wal: file))
    }

    static func wholeDirectory(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        let rest = Array(input.dropFirst())
        if mode & 1 == 0 {
            openAndVerify(directory(wal: rest))
        } else if let file = sealedWAL(payloadsIn: rest) {
            openAndVerify(directory(wal: file))
        }
    }

    /// What recovery and verify do with each record: decode its batches and
    /// validate their events (replay applies only what passes).
    static func scanWAL(_ disk: SimulatedDisk) {
        for mode in [WALReader.Mode.recover, .verify] {
            _ = try? WALReader(storage: disk, layout: layout).scan(mode: mode) { record in
                guard record.header.type == WALFormat.recordTypeGroup else { return }
                try WALGroupPayload.forEachBatch(record.payload) { batch in
                    _ = EventBatch(bytes: Array(batch.events), eventCount: batch.eventCount).events()
                }
                _ = WALGroupPayload.chainHash(record.payload)
            }
        }
    }

    static func sealedWAL(payloadsIn input: [UInt8]) -> [UInt8]? {
        var payloads: [[UInt8]] = []
        var offset = 0
        while offset + 2 <= input.count, payloads.count < 64 {
            let length = Int(input[offset]) | Int(input[offset + 1]) << 8
            offset += 2
            var payload = Array(input[offset..<min(input.count, offset + length)])
            offset += length
            if payload.count < WALFormat.groupHeaderBytes { payload += [UInt8](repeating: 0, count: WALFormat.groupHeaderBytes - payload.count) }
            payloads.append(payload)
        }
        return payloads.isEmpty ? nil : sealedWAL(payloads)
    }

    static func sealedWAL(_ payloads: [[UInt8]]) -> [UInt8] {
        let recordsBytes = payloads.reduce(0) { $0 + WALFormat.recordBytes(payloadBytes: $1.count) }
        let fileBytes = WALFormat.fileHeaderBytes + recordsBytes + 512
        let header = WALFileHeader(fileBytes: UInt64(fileBytes), firstLSN: 1, epoch: epoch, chainSeed: 0)
        var file = header.encoded() + [UInt8](repeating: 0, count: fileBytes - WALFormat.fileHeaderBytes)
        var chain = HashChain(directoryID: directoryID)
        var previousCRC: UInt32 = 0
        var offset = WALFormat.fileHeaderBytes
        for (index, var payload) in payloads.enumerated() {
            let lsn = UInt64(index + 1)
            let value = payload.withUnsafeBytes { chain.next(lsn: lsn, payload: $0) }
            payload.replaceSubrange(HashChain.fieldOffset..<(HashChain.fieldOffset + HashChain.hashBytes), with: value)
            chain.advance(to: value)
            file.replaceSubrange((offset + WALFormat.recordHeaderBytes)..<(offset + WALFormat.recordHeaderBytes + payload.count), with: payload)
            previousCRC = file.withUnsafeMutableBytes { p in
                WALRecordHeader.seal(
                    UnsafeMutableRawBufferPointer(rebasing: p[offset...]), payloadBytes: payload.count, type: WALFormat.recordTypeGroup,
                    lsn: lsn, previousCRC: previousCRC, epochSeed: header.epochSeed)
            }
            offset += WALFormat.recordBytes(payloadBytes: payload.count)
        }
        return file
    }

    static func segment(_ input: [UInt8]) {
        let disk = bare([(layout.segmentPath(month), input)])
        let path = layout.segmentPath(month)
        _ = try? SegmentReader.scan(storage: disk, path: path, expectedDirectoryID: directoryID) { _ in }
        _ = try? SegmentReader.readHeader(storage: disk, path: path)
        if let seal = try? SegmentReader.readSeal(storage: disk, path: path, expectedDirectoryID: directoryID),
            let file = try? disk.openFileForReading(path)
        {
            _ = try? SegmentReader.checkMonthRoot(file: file, expectedDirectoryID: directoryID, expectedRoot: seal.monthRoot, month: month)
            file.close()
        }
    }

    /// The index of the sealed one-record month of the vectors; the month
    /// root it must carry is taken from the input itself (bytes 40–71), so
    /// the fuzzer reaches the sections behind it.
    static func monthIndex(_ input: [UInt8]) {
        let path = layout.segmentIndexPath(month)
        let disk = bare([(path, input)])
        let root = input.count >= 72 ? Array(input[40..<72]) : [UInt8](repeating: 0, count: 32)
        guard let index = try? MonthIndexFile(storage: disk, path: path, month: month, directoryID: directoryID, monthRoot: root) else { return }
        for id: UInt128 in [1, 2, 3] {
            if let account = try? index.account(id) {
                // Ranges inside the counts the row declares (the row itself
                // was checked against the tables by `account`).
                _ = try? index.eventRefs(of: account, 0..<min(account.eventCount, 8))
                _ = try? index.eventRefs(of: account, max(0, account.eventCount - 2)..<account.eventCount)
                for j in 0..<min(account.eventCount / MonthIndex.checkpointInterval, 3) { _ = try? index.checkpoint(of: account, j) }
            }
        }
        _ = try? index.mightContainEntry(1001)
        _ = try? index.entryOffset(1001)
        _ = try? index.forEachEntryID { _ in }
    }

    /// An account-ordered copy of the sealed one-record month; its expected
    /// root and ref count are taken from the input itself (bytes 40–79), so
    /// the fuzzer reaches the offsets and records behind the header.
    static func accountCopy(_ input: [UInt8]) {
        let path = layout.accountCopyPath(month)
        let disk = bare([(path, input)])
        let root = input.count >= 72 ? Array(input[40..<72]) : [UInt8](repeating: 0, count: 32)
        let refCount = input.count >= 80 ? input.withUnsafeBytes { Int(min(_LE.u64($0, 72), 1 << 20)) } : 0
        let seed = SegmentFileHeader(month: month, directoryID: directoryID).recordSeed
        guard
            let copy = try? AccountCopyFile(
                storage: disk, path: path, month: month, directoryID: directoryID, monthRoot: root, refCount: refCount, seed: seed)
        else { return }
        let timestamp: UInt64 = 1_795_219_200_000_000_000
        for range in [0..<min(refCount, 2), max(0, refCount - 1)..<refCount] where !range.isEmpty {
            _ = try? copy.records(range, timestamps: Array(repeating: timestamp, count: range.count))
        }
        _ = try? copy.offsets(0...min(refCount, 4))
    }

    /// The open month's saved index of the one-record month: read (every
    /// check), applied to an empty state, queried; one that reads must be
    /// written again byte for byte (its encoding is canonical). Each input
    /// is tried as it is and with its CRCs made valid, so mutations reach
    /// the checks behind them.
    static func openMonthIndex(_ input: [UInt8]) {
        openMonthIndexAsGiven(input)
        openMonthIndexAsGiven(withValidCRCs(input))
    }

    /// `bytes` with every section CRC (when the header's counts add up to
    /// its size) and the header CRC recomputed.
    static func withValidCRCs(_ bytes: [UInt8]) -> [UInt8] {
        typealias Format = OpenMonthIndexFormat
        guard bytes.count >= Format.headerBytes else { return bytes }
        var fixed = bytes
        let counts = bytes.withUnsafeBytes { p in [48, 88, 96, 104, 112, 120, 128, 136].map { _LE.size(p, $0) } }
        if counts.allSatisfy({ $0 < 1 << 20 }) {
            let header = Format.Header(
                month: month, directoryID: directoryID, coveredEndOffset: 0, rootSoFar: [], recordCount: counts[0], first: (0, 0), last: (0, 0),
                holdCount: counts[1], holdPostingCount: counts[2], ledgerTotalCount: counts[3], accountCount: counts[4], refCount: counts[5],
                checkpointCount: counts[6], entryCount: counts[7])
            if header.fileBytes == bytes.count {
                for section in Format.Section.allCases {
                    let start = header.sectionOffset(section)
                    let crc = Checksum.mask(Checksum.crc32c(Array(bytes[start..<(start + header.sectionBytes(section))])))
                    withUnsafeBytes(of: crc.littleEndian) { fixed.replaceSubrange((152 + 4 * section.rawValue)..<(156 + 4 * section.rawValue), with: $0) }
                }
            }
        }
        let crc = Checksum.mask(Checksum.crc32c(Array(fixed[0..<(Format.headerBytes - 4)])))
        withUnsafeBytes(of: crc.littleEndian) { fixed.replaceSubrange((Format.headerBytes - 4)..<Format.headerBytes, with: $0) }
        return fixed
    }

    static func openMonthIndexAsGiven(_ input: [UInt8]) {
        let path = layout.openMonthIndexPath(month)
        let disk = bare([(path, input)])
        guard let saved = try? OpenMonthIndexFile.read(storage: disk, path: path, month: month, directoryID: directoryID, reserveEvents: 0) else {
            return
        }
        let header = saved.header
        if let state = try? saved.state(after: SegmentState()) {
            var index = saved.index
            index.link(to: state)
            for id: UInt128 in [1, 2, 3] {
                guard let account = index.account(id) else { continue }
                _ = index.eventRefs(of: account, 0..<min(account.eventCount, 8))
                for j in 0..<min(account.eventCount / MonthIndex.checkpointInterval, 3) { _ = index.checkpoint(of: account, j) }
            }
            _ = index.recordOffset(timestamp: header.first.timestamp)
        }
        let covered = OpenMonthIndexFile.Covered(
            endOffset: header.coveredEndOffset, rootSoFar: header.rootSoFar, recordCount: header.recordCount, first: header.first, last: header.last)
        let copy = layout.segmentsDirectory + "/again.omi"
        do {
            try OpenMonthIndexFile.write(
                saved.index, holds: saved.holds, covered: covered, directoryID: directoryID, storage: disk, path: copy, directory: layout.segmentsDirectory)
        } catch {
            require(false, "writing a saved index that read failed: \(error)")
        }
        require(disk.bytes(copy) == input, "a saved index that reads does not re-encode to its own bytes")
    }

    static func archive(_ input: [UInt8]) {
        let path = layout.archivePath(month)
        let disk = bare([(path, input)])
        if let archive = try? ArchivedSegmentFile(storage: disk, path: path, expectedDirectoryID: directoryID) {
            for i in 0..<min(archive.frames.count, 64) { _ = try? archive.decompressed(i) }
            _ = try? SegmentReader.scan(file: archive, expectedDirectoryID: directoryID) { _ in }
            archive.close()
        }
    }

    static func snapshot(_ input: [UInt8]) {
        let path = layout.snapshotPath(lsn: 1)
        let disk = bare([(path, input)])
        if let (_, machine, _) = try? SnapshotStore.load(path: path, storage: disk, directoryID: directoryID) {
            _ = machine.invariantViolations()
        }
    }

    static func ledgerMeta(_ input: [UInt8]) {
        let disk = directory()
        do {
            let file = try disk.openFile(layout.metaPath, create: true)
            try file.truncate(toSize: 0)
            try input.withUnsafeBytes { try file.write($0, at: 0) }
            file.close()
        } catch {
            fatalError("the in-memory directory could not be written: \(error)")
        }
        _ = try? DataDirectoryMeta.read(storage: disk, layout: layout)
        _ = try? ReadOnlyDirectory(at: layout.root, storage: disk).close()
    }
}
