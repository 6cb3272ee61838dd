import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// `verify` recomputes every sealed month from its records: one test per
/// corruption shape, each detected and named with file (and offset).
@Suite struct SealVerifyTests {
    static let root = SegmentQueryTests.root
    static var layout: DataDirectoryLayout { DataDirectoryLayout(root: root) }

    /// A closed four-month directory and its months.
    static func closedDirectory(seed: UInt64 = 11) throws -> (SimulatedDisk, [UTCMonth], TestClock) {
        let disk = SimulatedDisk(seed: seed)
        let (ledger, clock, _) = try SegmentQueryTests.fourMonths(seed: seed, disk: disk)
        try ledger.close()
        return (disk, try SegmentFiler.months(storage: disk, layout: layout), clock)
    }

    static func overwrite(_ disk: SimulatedDisk, _ path: String, at offset: Int, with bytes: [UInt8]) throws {
        let file = try disk.openFile(path, create: false)
        try file.write(bytes, at: offset)
        try file.sync()
    }

    static func problems(_ disk: SimulatedDisk) throws -> [VerifyReport.Problem] {
        try Verifier.verify(at: root, storage: disk).problems.filter { $0.severity == .error }
    }

    @Test func intactDirectoryVerifiesAndReportsEverySealedMonthsRoot() throws {
        let (disk, months, _) = try Self.closedDirectory()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        #expect(report.sealedMonths.map(\.month) == months.dropLast().map(\.description))
        #expect(Set(report.sealedMonths.map(\.root)).count == months.count - 1)
    }

    @Test func flippedByteInASealedMonthIsNamed() throws {
        let (disk, months, _) = try Self.closedDirectory()
        let path = Self.layout.segmentPath(months[1])
        disk.corrupt(path, at: SegmentFormat.fileHeaderBytes + 40)
        let problems = try Self.problems(disk)
        #expect(problems.contains { $0.file == path && $0.offset == SegmentFormat.fileHeaderBytes && $0.kind == "segment corruption" }, "\(problems)")
    }

    @Test func recordRewrittenWithAValidChecksumBreaksTheMonthRoot() throws {
        let (disk, months, _) = try Self.closedDirectory()
        let path = Self.layout.segmentPath(months[0])
        var scanned: SegmentRecord?
        var bytes = disk.bytes(path)
        _ = try SegmentReader.scan(storage: disk, path: path) { record in
            if scanned == nil, record.event[0] == EventFormat.kindCreateEntry { scanned = record }
        }
        let record = try #require(scanned)
        // Change the first posting's amount by one and recompute the record's CRC.
        let amountOffset = record.offset + SegmentFormat.recordHeaderBytes + EventFormat.entryHeaderBytes + 16
        bytes[amountOffset] &+= 1
        let seed = try SegmentFileHeader.decode(Array(bytes[0..<SegmentFormat.fileHeaderUsedBytes]), path: path).recordSeed
        let crc = bytes.withUnsafeBytes {
            SegmentRecordHeader.computeCRC(
                UnsafeRawBufferPointer(rebasing: $0[record.offset..<(record.offset + record.header.recordBytes)]), eventBytes: record.header.eventBytes,
                seed: seed)
        }
        try Self.overwrite(disk, path, at: amountOffset, with: [bytes[amountOffset]])
        try Self.overwrite(disk, path, at: record.offset + 28, with: (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) })
        let problems = try Self.problems(disk)
        #expect(problems.contains { $0.file == path && $0.message.contains("month root") }, "\(problems)")
    }

    @Test func sealRewrittenWithAValidChecksumDiffersFromTheMonth() throws {
        let (disk, months, _) = try Self.closedDirectory()
        let path = Self.layout.segmentPath(months[0])
        let scan = try SegmentReader.scan(storage: disk, path: path)
        var seal = try #require(scan.seal)
        seal.accounts[0].balances.creditsPosted += 1  // invent one minor unit
        try Self.overwrite(disk, path, at: scan.sealOffset!, with: seal.encoded(seed: scan.header.recordSeed))
        let problems = try Self.problems(disk)
        #expect(problems.contains { $0.file == path && $0.offset == scan.sealOffset && $0.kind == "seal differs from the month" }, "\(problems)")
    }

    @Test func missingMonthRefusesToOpenAndBreaksTheChain() throws {
        let (disk, months, clock) = try Self.closedDirectory()
        try disk.removeFile(Self.layout.segmentPath(months[1]))
        try disk.removeFile(Self.layout.segmentIndexPath(months[1]))
        #expect {
            try Ledger.open(at: Self.root, storage: disk, options: SegmentQueryTests.options(clock))
        } throws: { error in
            let e = error as? LedgerError
            return e?.code == .corruption && e?.path == Self.layout.segmentPath(months[2]) && e!.message.contains("missing")
        }
        let problems = try Self.problems(disk)
        #expect(problems.contains { $0.file == Self.layout.segmentPath(months[2]) && $0.kind == "month chain broken" }, "\(problems)")
    }

    @Test func damagedIndexFileIsNamedWithItsOffset() throws {
        let (disk, months, _) = try Self.closedDirectory()
        let path = Self.layout.segmentIndexPath(months[0])
        disk.corrupt(path, at: MonthIndexFormat.headerBytes + 200)
        // A month index is derived from its sealed segment: a warning (the next
        // open rebuilds it), still named with its offset.
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        #expect(
            report.problems.contains {
                $0.file == path && $0.offset == MonthIndexFormat.headerBytes + 200 && $0.kind == "index differs from the segment" && $0.severity == .warning
            }, "\(report.problems)")
    }

    @Test func truncatedSealedMonthIsNamed() throws {
        let (disk, months, clock) = try Self.closedDirectory()
        let path = Self.layout.segmentPath(months[0])
        let file = try disk.openFile(path, create: false)
        try file.truncate(toSize: try file.size() - 100)
        try file.sync()
        let problems = try Self.problems(disk)
        #expect(problems.contains { $0.file == path && $0.kind == "segment corruption" }, "\(problems)")
        #expect(throws: LedgerError.self) { try Ledger.open(at: Self.root, storage: disk, options: SegmentQueryTests.options(clock)) }
    }
}
