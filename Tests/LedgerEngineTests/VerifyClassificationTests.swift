import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// verify's one classification: errors for acknowledged data lost or altered
/// or a file the engine cannot rebuild; warnings for derived files the next
/// open rebuilds and for torn, never-acknowledged tails.
@Suite struct VerifyClassificationTests {
    typealias Faults = FaultInjectionTests

    static func records(_ disk: SimulatedDisk) throws -> [(path: String, offset: Int, type: UInt8)] {
        var records: [(String, Int, UInt8)] = []
        _ = try WALReader(storage: disk, layout: DataDirectoryLayout(root: Faults.root)).scan(mode: .recover) {
            records.append(($0.path, $0.offset, $0.header.type))
        }
        return records
    }

    @Test func tornCloseRecordIsOnlyWarningsAndTheNextOpenRepairsIt() throws {
        let disk = try Faults.setUp(seed: 61)
        _ = try Faults.recordsAfterCleanClose(disk, batches: 5)
        let close = try #require(try Self.records(disk).last)
        #expect(close.type == WALFormat.recordTypeClose)
        disk.corrupt(close.path, at: close.offset + WALFormat.recordHeaderBytes + 2)
        let report = try Verifier.verify(at: Faults.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        #expect(report.problems.contains { $0.kind == "torn tail" && $0.severity == .warning })
        #expect(report.problems.allSatisfy { $0.severity == .warning })
        try Ledger.open(at: Faults.root, storage: disk, options: Faults.options()).close()
        let after = try Verifier.verify(at: Faults.root, storage: disk)
        #expect(after.problems.isEmpty, "\(after.problems)")
    }

    @Test(arguments: ["missing", "damaged"])
    func balanceIndexIsACacheSoItsLossIsAWarning(_ how: String) throws {
        let disk = try Faults.setUp(seed: 62)
        _ = try Faults.recordsAfterCleanClose(disk, batches: 4)
        let path = DataDirectoryLayout(root: Faults.root).indexPath
        if how == "missing" { try disk.removeFile(path) } else { disk.corrupt(path, at: BalanceIndexFormat.slotsOffset + 40) }
        let report = try Verifier.verify(at: Faults.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        #expect(report.problems.contains { $0.file == path && $0.severity == .warning }, "\(report.problems)")
        #expect(report.problems.allSatisfy { $0.severity == .warning })
    }

    @Test func verifyGoesOnPastAWALErrorToCheckTheSegments() throws {
        let disk = SimulatedDisk(seed: 63)
        let (ledger, _, _) = try SegmentQueryTests.fourMonths(seed: 63, disk: disk)
        try ledger.close()
        let layout = DataDirectoryLayout(root: SegmentQueryTests.root)
        var records: [(String, Int)] = []
        _ = try WALReader(storage: disk, layout: layout).scan(mode: .recover) { records.append(($0.path, $0.offset)) }
        let (walPath, walOffset) = records[records.count / 2]
        disk.corrupt(walPath, at: walOffset + WALFormat.recordHeaderBytes + 20)
        let october = layout.segmentPath(UTCMonth(year: 2026, month: 10))
        disk.corrupt(october, at: SegmentFormat.fileHeaderBytes + SegmentFormat.recordHeaderBytes + 8)
        let report = try Verifier.verify(at: SegmentQueryTests.root, storage: disk)
        #expect(!report.passed)
        #expect(report.problems.contains { $0.file == walPath && $0.severity == .error }, "\(report.problems)")
        #expect(report.problems.contains { $0.file == october && $0.severity == .error }, "\(report.problems)")
        #expect(report.problems.contains { $0.kind == "segments checked alone" })
    }

    @Test func entriesCountsEveryEntryIncludingThoseEvictedToSealedMonths() throws {
        let disk = SimulatedDisk(seed: 64)
        let (ledger, _, workload) = try SegmentQueryTests.fourMonths(seed: 64, disk: disk)
        try ledger.close()
        let report = try Verifier.verify(at: SegmentQueryTests.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        #expect(report.entries == workload.appliedEntryIDs.count)
    }

    @Test func progressCoversTheWALTheSegmentsAndTheIndex() throws {
        let disk = SimulatedDisk(seed: 65)
        let (ledger, _, _) = try SegmentQueryTests.fourMonths(seed: 65, disk: disk)
        try ledger.close()
        final class Phases: @unchecked Sendable {
            let lock = NSLock()
            var seen: Set<String> = []
        }
        let phases = Phases()
        _ = try Verifier.verify(at: SegmentQueryTests.root, storage: disk) { progress in
            phases.lock.lock()
            phases.seen.insert(progress.phase)
            phases.lock.unlock()
        }
        #expect(phases.seen == ["WAL", "segments", "index"])
    }
}
