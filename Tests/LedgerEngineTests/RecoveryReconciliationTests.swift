import Foundation
import LedgerTestSupport
import Testing
@testable import LedgerEngine

/// Recovery reconciles the WAL with what is derived from it (segments,
/// snapshots, the index): a derived file that holds more than the log is
/// evidence of lost acknowledged data, never something to serve.
@Suite struct RecoveryReconciliationTests {
    typealias Faults = FaultInjectionTests
    static let root = Faults.root

    /// Every file's bytes, to prove a refusal changed nothing.
    static func files(_ disk: SimulatedDisk) -> [String: [UInt8]] {
        Dictionary(uniqueKeysWithValues: disk.names().map { ($0, disk.bytes($0)) })
    }

    /// After a clean close: the last group record is damaged and the close
    /// record after it is gone, so the WAL reads as ending with a torn tail
    /// one group early. Returns the LSN the WAL now ends at.
    static func loseTheLastAcknowledgedGroup(_ disk: SimulatedDisk) throws -> UInt64 {
        let records = try Faults.recordsAfterCleanClose(disk, batches: 8)
        var lsns: [UInt64] = []
        _ = try WALReader(storage: disk, layout: DataDirectoryLayout(root: root)).scan(mode: .recover) { lsns.append($0.header.lsn) }
        let (closePath, closeOffset) = records[records.count - 1]
        let (groupPath, groupOffset) = records[records.count - 2]
        let file = try disk.openFile(closePath, create: false)
        try file.write([UInt8](repeating: 0, count: min(4096, try file.size() - closeOffset)), at: closeOffset)
        try file.sync()
        disk.corrupt(groupPath, at: groupOffset + WALFormat.recordHeaderBytes + 60)
        return lsns[lsns.count - 3]
    }

    @Test func syncedSegmentRecordsBeyondTheWALRefuseToOpenAndChangeNothing() throws {
        let disk = try Faults.setUp(seed: 21)
        let walEnd = try Self.loseTheLastAcknowledgedGroup(disk)
        let before = Self.files(disk)
        do {
            _ = try Ledger.open(at: Self.root, storage: disk, options: Faults.options())
            Issue.record("opened a WAL that lost a group its segment holds")
        } catch let error as LedgerError {
            #expect(error.code == .corruption)
            #expect(error.message.contains("segments/") && error.message.contains("WAL ends at LSN \(walEnd)"), "\(error)")
            #expect(error.message.contains("ledgerctl inspect"))
        }
        let unchanged = Self.files(disk) == before  // outside #expect: it would print every byte
        #expect(unchanged, "a refused open wrote to the directory")
    }

    @Test func unsyncedSegmentRecordsBeyondTheWALAreTruncatedAndTheirLSNFiledOnce() throws {
        let disk = try Faults.setUp(seed: 22)
        let walEnd = try Self.loseTheLastAcknowledgedGroup(disk)
        // Make the segment's newest durable frontier disappear: the older one
        // does not cover the lost group, so its records read as never synced.
        let segment = try #require(disk.names().first { $0.hasSuffix(".seg") })
        let scan = try SegmentReader.scan(storage: disk, path: segment)
        let file = try disk.openFile(segment, create: false)
        try file.write([UInt8](repeating: 0, count: SegmentFormat.frontierSlotBytes), at: SegmentFormat.frontierSlotOffsets[scan.frontierSlot])
        try file.sync()
        let older = try SegmentReader.scan(storage: disk, path: segment).frontier
        try #require(older.lastLSN <= walEnd && scan.lastLSN > walEnd, "older frontier \(older.lastLSN), segment \(scan.lastLSN), WAL \(walEnd)")

        let log = Faults.LogLines()
        var ledger = try Ledger.open(at: Self.root, storage: disk, options: Faults.options(log))
        #expect(log.all.contains { $0.contains("never-synced records") }, "\(log.all)")
        #expect(try SegmentReader.scan(storage: disk, path: segment).lastLSN <= walEnd)
        var rng = SeededRandom(seed: 22)
        let (acked, error) = Faults.post(ledger, batches: 3, firstID: 9_000, rng: &rng)
        #expect(error == nil && !acked.isEmpty)
        try ledger.close()
        // Each LSN appears in the segment in one run only: the new groups took
        // the truncated LSNs, and nothing was filed twice.
        var lsns: [UInt64] = []
        _ = try SegmentReader.scan(storage: disk, path: segment) { lsns.append($0.header.lsn) }
        #expect(lsns == lsns.sorted())
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Faults.options())
        #expect(try ledger.missingEntries(acked).isEmpty)
        try ledger.close()
    }
}
