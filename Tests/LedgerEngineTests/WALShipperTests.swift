import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Log shipping's reading side: the messages, replayed into empty files,
/// give back the primary's WAL files byte for byte.
@Suite struct WALShipperTests {
    static func populated() throws -> (path: String, lastLSN: UInt64) { try ReplicationFixtures.populated() }

    /// Applies messages to in-memory files as a standby would write them.
    static func replay(_ messages: [WALShipper.Message], into files: inout [UInt64: [UInt8]], current: inout UInt64, fileBytes: Int) {
        for message in messages {
            switch message {
            case .walFile(let header):
                let decoded = try! WALFileHeader.decode(header, path: "message")
                current = decoded.firstLSN
                files[current] = header + [UInt8](repeating: 0, count: fileBytes - header.count)
            case .walRecords(_, let offset, let bytes):
                files[current]!.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            }
        }
    }

    @Test func shippedMessagesRebuildEveryWALFileByteForByte() throws {
        let (path, lastLSN) = try Self.populated()
        let layout = DataDirectoryLayout(root: path)
        let walFiles = try WALReader(storage: POSIXStorage(), layout: layout).walFiles()
        #expect(walFiles.count >= 3, "the workload must roll WAL files")
        var shipper = WALShipper(storage: POSIXStorage(), layout: layout, from: 1)
        var files: [UInt64: [UInt8]] = [:]
        var current: UInt64 = 0
        var calls = 0
        while shipper.nextLSN <= lastLSN {
            let messages = try shipper.next(throughLSN: lastLSN, maxBytes: 16 * 1024)
            #expect(!messages.isEmpty)
            for case .walRecords(_, _, let bytes) in messages { #expect(bytes.count <= 16 * 1024 || messages.count == 1) }
            Self.replay(messages, into: &files, current: &current, fileBytes: 64 * 1024)
            calls += 1
            guard calls < 10_000 else { break }
        }
        #expect(try shipper.next(throughLSN: lastLSN, maxBytes: 16 * 1024).isEmpty, "nothing beyond the durable LSN")
        #expect(files.count == walFiles.count)
        for (firstLSN, filePath) in walFiles {
            let onDisk = try Array(Data(contentsOf: URL(fileURLWithPath: filePath)))
            #expect(files[firstLSN] == onDisk, "\(filePath) differs from what was shipped")
        }
    }

    @Test func shippingStopsAtTheDurableLSNAndResumesFromTheMiddleOfAFile() throws {
        let (path, lastLSN) = try Self.populated()
        let layout = DataDirectoryLayout(root: path)
        var shipper = WALShipper(storage: POSIXStorage(), layout: layout, from: 1)
        var shippedThrough: UInt64 = 0
        for message in try shipper.next(throughLSN: 5, maxBytes: 1 << 20) {
            if case .walRecords(let first, _, let bytes) = message {
                #expect(first == 1)
                shippedThrough = first + UInt64(Self.recordCount(bytes)) - 1
            }
        }
        #expect(shippedThrough == 5 && shipper.nextLSN == 6)
        // A standby that holds LSN 1...40 asks from 41: no file header unless
        // 41 starts a file, and the first record is LSN 41.
        var resumed = WALShipper(storage: POSIXStorage(), layout: layout, from: 41)
        let messages = try resumed.next(throughLSN: lastLSN, maxBytes: 4096)
        let startsFile = try WALReader(storage: POSIXStorage(), layout: layout).walFiles().contains { $0.firstLSN == 41 }
        if case .walFile = messages.first { #expect(startsFile) } else { #expect(!startsFile) }
        let records = messages.compactMap { message -> (UInt64, [UInt8])? in
            if case .walRecords(let first, _, let bytes) = message { return (first, bytes) }
            return nil
        }
        guard let (first, bytes) = records.first else {
            Issue.record("no records shipped")
            return
        }
        #expect(first == 41)
        #expect(bytes.withUnsafeBytes { _LE.u64($0, 8) } == 41, "the bytes are the record of LSN 41")
    }

    @Test func aCompactedStartIsRefusedWithAClearError() throws {
        let (path, _) = try Self.populated()
        let layout = DataDirectoryLayout(root: path)
        let files = try WALReader(storage: POSIXStorage(), layout: layout).walFiles()
        try FileManager.default.removeItem(atPath: files[0].path)  // as compaction would
        var shipper = WALShipper(storage: POSIXStorage(), layout: layout, from: 1)
        #expect(throws: LedgerError.self) { _ = try shipper.next(throughLSN: 10, maxBytes: 4096) }
    }

    static func recordCount(_ bytes: [UInt8]) -> Int {
        var count = 0
        var offset = 0
        while offset + WALFormat.recordHeaderBytes <= bytes.count {
            let payload = bytes.withUnsafeBytes { Int(_LE.u32($0, offset)) }
            offset += WALFormat.recordBytes(payloadBytes: payload)
            count += 1
        }
        return count
    }
}

/// Log shipping's writing side: a standby made of the primary's
/// `ledger.meta` and first WAL file (as a base backup at LSN 0 would hold)
/// mirrors and applies the stream, and is the primary's ledger.
@Suite struct WALMirrorTests {
    static func standby(of primary: String) throws -> String { try ReplicationFixtures.standby(of: primary) }

    static func messages(_ primary: String, through lastLSN: UInt64) throws -> [WALShipper.Message] {
        var shipper = WALShipper(storage: POSIXStorage(), layout: DataDirectoryLayout(root: primary), from: 1)
        var all: [WALShipper.Message] = []
        while shipper.nextLSN <= lastLSN { all += try shipper.next(throughLSN: lastLSN, maxBytes: 8 * 1024) }
        return all
    }

    static func walFilesEqual(_ primary: String, _ standby: String) throws {
        let primaryFiles = try WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: primary)).walFiles()
        let standbyFiles = try WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: standby)).walFiles()
        #expect(primaryFiles.map(\.firstLSN) == standbyFiles.map(\.firstLSN))
        for (a, b) in zip(primaryFiles, standbyFiles) {
            #expect(FileManager.default.contentsEqual(atPath: a.path, andPath: b.path), "\(b.path) differs from \(a.path)")
        }
    }

    @Test func aStandbyMirrorsByteIdenticalFilesAndAppliesThemToTheSameLedger() throws {
        let (primary, lastLSN) = try WALShipperTests.populated()
        let standbyPath = try Self.standby(of: primary)
        let standby = try Ledger.open(at: standbyPath)
        #expect(standby.isStandby)
        let messages = try Self.messages(primary, through: lastLSN)
        for start in stride(from: 0, to: messages.count, by: 5) {
            let applied = try standby.receive(Array(messages[start..<min(messages.count, start + 5)]))
            #expect(applied == standby.lastLSN.current)
        }
        #expect(standby.lastLSN.current == lastLSN)
        // Applied on the fly: reads on the open standby see the primary's ledger.
        let p = try Ledger.open(at: primary)
        for id in 1...10 { #expect(try standby.account(id: UInt128(id)) == p.account(id: UInt128(id))) }
        #expect(try standby.history(account: 3, limit: 1_000) == p.history(account: 3, limit: 1_000))
        #expect(try standby.replicationPosition().chainValue == p.replicationPosition().chainValue)
        // Writes are refused, and closing adds no record of its own.
        #expect(throws: LedgerError(.notPrimary, "this data directory is a standby: writes go to its primary")) {
            _ = try standby.submitAndWait(EventBatch([usd(99)]))
        }
        try Self.walFilesEqual(primary, standbyPath)  // before the primary's close adds its record
        try standby.close()
        try p.close()
        #expect(try Verifier.verify(at: standbyPath).passed)
        let reopened = try Ledger.open(at: standbyPath)
        #expect(try reopened.status().lastLSN == lastLSN)
        try reopened.close()
    }

    @Test func aDamagedOrOutOfOrderMessageIsRefusedBeforeAByteIsWritten() throws {
        let (primary, lastLSN) = try WALShipperTests.populated()
        let standbyPath = try Self.standby(of: primary)
        let standby = try Ledger.open(at: standbyPath)
        defer { try? standby.close() }
        let messages = try Self.messages(primary, through: lastLSN)
        try standby.receive([messages[0]])  // the first file: held already
        guard case .walRecords(let first, let offset, var bytes) = messages[1] else {
            Issue.record("the second message is not records")
            return
        }
        let filePath = DataDirectoryLayout(root: standbyPath).walPath(firstLSN: 1)
        let before = try Data(contentsOf: URL(fileURLWithPath: filePath))
        var flipped = bytes
        flipped[WALFormat.recordHeaderBytes + 3] ^= 0x40  // a payload bit flipped in transit
        #expect(throws: LedgerError.self) { try standby.receive([.walRecords(firstLSN: first, offset: offset, bytes: flipped)]) }
        #expect(throws: LedgerError.self) { try standby.receive([messages[2]]) }  // a gap: LSNs after the missing ones
        // A record whose CRC is valid but whose SHA-256 chain value is not the
        // one that follows (re-sealed after the change, as an attacker would).
        bytes = Array(bytes[0..<WALFormat.recordBytes(payloadBytes: bytes.withUnsafeBytes { Int(_LE.u32($0, 0)) })])  // the first record alone
        bytes.withUnsafeMutableBytes { raw in
            raw[WALFormat.recordHeaderBytes + HashChain.fieldOffset] ^= 1
            let payloadBytes = Int(_LE.u32(UnsafeRawBufferPointer(raw), 0))
            let header = try! WALFileHeader.decode(Array(before[0..<WALFormat.fileHeaderUsedBytes]), path: "test")
            _ = WALRecordHeader.seal(
                UnsafeMutableRawBufferPointer(rebasing: raw[0..<WALFormat.recordBytes(payloadBytes: payloadBytes)]), payloadBytes: payloadBytes,
                type: WALFormat.recordTypeGroup, lsn: first, previousCRC: header.chainSeed, epochSeed: header.epochSeed)
        }
        #expect(throws: LedgerError.self) { try standby.receive([.walRecords(firstLSN: first, offset: offset, bytes: bytes)]) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: filePath)) == before, "nothing of a refused message was written")
        #expect(standby.lastLSN.current == 0)
        #expect(try standby.receive([messages[1]]) > 0)  // the undamaged message still applies
    }
}

/// The primary's decision on a `replicate` request.
@Suite struct ReplicationStartTests {
    static func decide(
        _ path: String, durable: UInt64, directoryID: [UInt8]? = nil, history: TimelineHistory? = nil, timeline: UInt64 = 1, lastLSN: UInt64,
        chain: [UInt8]
    ) throws -> ReplicationStart {
        let meta = try DataDirectoryMeta.read(storage: POSIXStorage(), layout: DataDirectoryLayout(root: path))
        return try ReplicationStart.decide(
            storage: POSIXStorage(), layout: DataDirectoryLayout(root: path), directoryID: meta.directoryID, durableLSN: durable,
            history: try history ?? TimelineHistory(), standbyTimeline: timeline, standbyDirectoryID: directoryID ?? meta.directoryID, standbyLastLSN: lastLSN,
            standbyChainValue: chain)
    }

    @Test func aStandbyThatSharesTheHistoryStreamsOnAndAnyOtherIsRefused() throws {
        let (path, lastLSN) = try WALShipperTests.populated()
        let layout = DataDirectoryLayout(root: path)
        var chains: [UInt64: [UInt8]] = [:]
        var last = [UInt8](repeating: 0, count: 32)
        _ = try WALReader(storage: POSIXStorage(), layout: layout).scan(mode: .verify) { record in
            if record.header.type == WALFormat.recordTypeGroup { last = WALGroupPayload.chainHash(record.payload) }
            chains[record.header.lsn] = last
        }
        #expect(try Self.decide(path, durable: lastLSN, lastLSN: 0, chain: [UInt8](repeating: 0, count: 32)) == .stream(fromLSN: 1))
        #expect(try Self.decide(path, durable: lastLSN, lastLSN: 40, chain: chains[40]!) == .stream(fromLSN: 41))
        // The close record at the end: the chain value is the last group's.
        #expect(try Self.decide(path, durable: lastLSN, lastLSN: lastLSN, chain: chains[lastLSN - 1]!) == .stream(fromLSN: lastLSN + 1))
        guard case .diverged = try Self.decide(path, durable: lastLSN, lastLSN: 40, chain: chains[39]!) else {
            Issue.record("a standby with another chain value at its LSN was not refused")
            return
        }
        guard case .diverged = try Self.decide(path, durable: lastLSN, lastLSN: lastLSN + 1, chain: chains[40]!) else {
            Issue.record("a standby ahead of the primary was not refused")
            return
        }
        guard case .diverged = try Self.decide(path, durable: lastLSN, directoryID: [UInt8](repeating: 9, count: 16), lastLSN: 40, chain: chains[40]!)
        else {
            Issue.record("a standby of another ledger was not refused")
            return
        }
        let files = try WALReader(storage: POSIXStorage(), layout: layout).walFiles()
        try FileManager.default.removeItem(atPath: files[0].path)  // as compaction would
        guard case .needBaseBackup = try Self.decide(path, durable: lastLSN, lastLSN: 2, chain: chains[2]!) else {
            Issue.record("a standby behind the compacted WAL was not sent to a base backup")
            return
        }
        #expect(try Self.decide(path, durable: lastLSN, lastLSN: lastLSN - 1, chain: chains[lastLSN - 1]!) == .stream(fromLSN: lastLSN))
    }
}
