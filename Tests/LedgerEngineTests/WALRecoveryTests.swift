import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The WAL at open and in `verify`: a bad record before valid data is
/// corruption named by file and offset, an edit with a recomputed CRC breaks
/// the SHA-256 chain, and only a torn, never-acknowledged tail is truncated
/// (Specs/wal-format.md, "Recovery"). On `SimulatedDisk`, with the fault
/// injection suite's directory and workload.
@Suite struct WALRecoveryTests {
    typealias Fixture = FaultInjectionTests

    @Test func checksumMismatchInTheMiddleRefusesToOpenAndNamesFileAndOffset() throws {
        let disk = try Fixture.setUp(seed: 4)
        let records = try Fixture.recordsAfterCleanClose(disk, batches: 10)
        let (path, offset) = records[records.count / 2]
        disk.corrupt(path, at: offset + WALFormat.recordHeaderBytes + 20)
        do {
            _ = try Ledger.open(at: Fixture.root, storage: disk, options: Fixture.options())
            Issue.record("opened a log with a corrupt record in the middle")
        } catch let error as LedgerError {
            #expect(error.code == .corruption)
            #expect(error.path == path)
            #expect(error.offset == offset)
            #expect(error.message.contains("ledgerctl verify"))
        }
        let report = try Verifier.verify(at: Fixture.root, storage: disk)
        #expect(!report.passed)
        #expect(report.problems.contains { $0.file == path && $0.offset == offset && $0.severity == .error })
    }

    /// A CRC is not a MAC: an edited record with a recomputed CRC is caught
    /// by the SHA-256 chain, at open and by verify.
    @Test func editedRecordWithRecomputedChecksumBreaksTheHashChain() throws {
        let disk = try Fixture.setUp(seed: 11)
        let records = try Fixture.recordsAfterCleanClose(disk, batches: 8)
        let (path, offset) = records[4]
        // Re-derive the file's epoch seed and the record's previous CRC, change
        // one amount (both postings: still balanced), and reseal the record.
        let header = try WALFileHeader.decode(Array(disk.bytes(path)[0..<64]), path: path)
        var bytes = disk.bytes(path)
        let payloadBytes = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) })
        let lsn = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self) }
        let previousCRC = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 16, as: UInt32.self) }
        let firstEntry = offset + WALFormat.recordHeaderBytes + WALFormat.groupHeaderBytes + WALFormat.batchHeaderBytes
        bytes[firstEntry + 64 + 16] &+= 1
        bytes[firstEntry + 104 + 16] &+= 1
        bytes.withUnsafeMutableBytes { p in
            let record = UnsafeMutableRawBufferPointer(rebasing: p[offset..<(offset + WALFormat.recordBytes(payloadBytes: payloadBytes))])
            let crc = WALRecordHeader.seal(
                record, payloadBytes: payloadBytes, type: WALFormat.recordTypeGroup, lsn: lsn, previousCRC: previousCRC, epochSeed: header.epochSeed)
            // The next record chains the CRC: keep it consistent too, so only
            // the SHA-256 chain can notice.
            let next = offset + WALFormat.recordBytes(payloadBytes: payloadBytes)
            let nextPayload = Int(p.loadUnaligned(fromByteOffset: next, as: UInt32.self))
            let nextLSN = p.loadUnaligned(fromByteOffset: next + 8, as: UInt64.self)
            let nextType = p[next + 4]
            WALRecordHeader.seal(
                UnsafeMutableRawBufferPointer(rebasing: p[next..<(next + WALFormat.recordBytes(payloadBytes: nextPayload))]), payloadBytes: nextPayload,
                type: nextType, lsn: nextLSN, previousCRC: crc, epochSeed: header.epochSeed)
        }
        let file = try disk.openFile(path, create: false)
        try file.write(bytes, at: 0)
        try file.sync()
        do {
            _ = try Ledger.open(at: Fixture.root, storage: disk, options: Fixture.options())
            Issue.record("opened a log whose record was edited")
        } catch let error as LedgerError {
            #expect(error.code == .corruption && error.message.contains("SHA-256 chain") && error.offset == offset)
        }
        let report = try Verifier.verify(at: Fixture.root, storage: disk)
        #expect(report.problems.contains { $0.message.contains("SHA-256 chain") && $0.offset == offset })
    }

    @Test func zeroedRecordFollowedByValidRecordsIsCorruptionNotATornTail() throws {
        let disk = try Fixture.setUp(seed: 5)
        let records = try Fixture.recordsAfterCleanClose(disk, batches: 10)
        let (path, offset) = records[3]
        for i in 0..<WALFormat.recordHeaderBytes where disk.bytes(path)[offset + i] != 0 {
            disk.corrupt(path, at: offset + i)  // not a zeroing, but any damage to the header
        }
        #expect(throws: LedgerError.self) { _ = try Ledger.open(at: Fixture.root, storage: disk, options: Fixture.options()) }
    }

    @Test func bitFlipOnReadIsDetected() throws {
        let disk = try Fixture.setUp(seed: 6)
        let records = try Fixture.recordsAfterCleanClose(disk, batches: 6)
        let (path, offset) = records[2]
        disk.readFlips[path] = [offset + WALFormat.recordHeaderBytes + 3]
        #expect(throws: LedgerError.self) { _ = try Ledger.open(at: Fixture.root, storage: disk, options: Fixture.options()) }
        disk.readFlips = [:]
        try Ledger.open(at: Fixture.root, storage: disk, options: Fixture.options()).close()
    }

    @Test func tornTailIsTruncatedAndAppendingContinues() throws {
        let disk = try Fixture.setUp(seed: 7)
        var rng = SeededRandom(seed: 7)
        var ledger = try Ledger.open(at: Fixture.root, storage: disk, options: Fixture.options())
        let (acked, _) = Fixture.post(ledger, batches: 8, firstID: 1_000, rng: &rng)
        disk.crash(mode: .dropUnsynced)
        // A write that never completed: the first sectors of a record.
        let scan = try WALReader(storage: disk, layout: DataDirectoryLayout(root: Fixture.root)).scan(mode: .recover) { _ in }
        let file = try disk.openFile(scan.lastFilePath, create: false)
        try file.write((0..<700).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }, at: scan.appendOffset)
        try file.sync()
        let log = LogLines()
        ledger = try Ledger.open(at: Fixture.root, storage: disk, options: Fixture.options(log))
        #expect(ledger.recovery.tornTailTruncatedAt?.offset == scan.appendOffset)
        #expect(log.all.contains { $0.contains("torn") })
        let (more, error) = Fixture.post(ledger, batches: 4, firstID: 5_000, rng: &rng)
        #expect(error == nil)
        try ledger.close()
        try Fixture.recoverAndCheck(disk, acked: acked + more, seed: 7)
    }
}
