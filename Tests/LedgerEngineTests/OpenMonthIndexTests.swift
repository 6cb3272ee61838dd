import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The open month's index saved at a clean close
/// (Specs/open-month-index-format.md): written byte for byte as the vector
/// says, used by the next open (after a crash too, for the part it covers)
/// with answers equal to indexing the month from its records, never used
/// when it does not describe the segment, deleted at the seal, checked by
/// verify.
@Suite struct OpenMonthIndexTests {
    static let layout = DataDirectoryLayout(root: SegmentQueryTests.root)
    static let november = UTCMonth(year: 2026, month: 11)
    static let ts: UInt64 = 1_795_219_200_000_000_000

    /// The index of segment-record.hex's month (accounts 1 and 2 opened it
    /// with nothing), as the filer builds it.
    static func vectorMonthIndex() throws -> (MonthIndexBuilder, SegmentState, OpenMonthIndexFile.Covered) {
        let record = try FormatVectorTests.vector("segment-record.hex")
        var state = SegmentState()
        for id: UInt128 in [1, 2] { state.restore(SegmentAccount(id: id, ledger: 840, flags: AccountFlags(rawValue: 0), balances: AccountBalances())) }
        var index = MonthIndexBuilder(month: november)
        try Array(record[32...]).withUnsafeBytes { try index.add(event: $0, offset: 4096, timestamp: ts, state: &state) }
        let root = Array(try FormatVectorTests.vector("segment-seal.hex")[96..<128])
        let covered = OpenMonthIndexFile.Covered(endOffset: 4096 + record.count, rootSoFar: root, recordCount: 1, first: (7, ts), last: (7, ts))
        return (index, state, covered)
    }

    @Test func vectorIsWrittenByteForByteAndDecodes() throws {
        let (index, state, covered) = try Self.vectorMonthIndex()
        let disk = SimulatedDisk(seed: 1)
        try disk.makeDirectory("/v")
        try OpenMonthIndexFile.write(
            index, holds: state.holds, covered: covered, directoryID: SegmentTests.directoryID, storage: disk, path: "/v/s.omi", directory: "/v")
        let vector = try FormatVectorTests.vector("open-month-index.hex")
        #expect(disk.bytes("/v/s.omi") == vector)
        #expect(!disk.fileExists("/v/s.omi.tmp"))

        let saved = try OpenMonthIndexFile.read(
            storage: disk, path: "/v/s.omi", month: Self.november, directoryID: SegmentTests.directoryID, reserveEvents: 0)
        #expect(saved.header.coveredEndOffset == covered.endOffset && saved.header.rootSoFar == covered.rootSoFar && saved.header.recordCount == 1)
        #expect(saved.holds.isEmpty && saved.index.totals == index.totals)
        for id: UInt128 in [1, 2] {
            let account = try #require(saved.index.account(id))
            #expect(account == index.account(id))
            #expect(saved.index.eventRefs(of: account, 0..<1) == index.eventRefs(of: try #require(index.account(id)), 0..<1))
        }
        #expect(Array(saved.index.t.entryIDs) == [1001] && Array(saved.index.t.entryOffsets) == [4096])
        #expect(Array(saved.index.t.records) == Array(index.t.records))
        // Another month or directory does not read.
        #expect(throws: LedgerError.self) {
            try OpenMonthIndexFile.read(storage: disk, path: "/v/s.omi", month: Self.november.next, directoryID: SegmentTests.directoryID, reserveEvents: 0)
        }
        #expect(throws: LedgerError.self) {
            try OpenMonthIndexFile.read(
                storage: disk, path: "/v/s.omi", month: Self.november, directoryID: [UInt8](repeating: 9, count: 16), reserveEvents: 0)
        }
    }

    /// The root so far a segment writer reports is what its seal would carry.
    @Test func aWritersRootSoFarIsItsMonthRootAtThatPoint() throws {
        let disk = SimulatedDisk(seed: 2)
        let layout = DataDirectoryLayout(root: "/w")
        try disk.makeDirectory("/w")
        let writer = try SegmentWriter(storage: disk, layout: layout, month: Self.november, directoryID: SegmentTests.directoryID)
        let record = try FormatVectorTests.vector("segment-record.hex")
        try Array(record[32...]).withUnsafeBytes { _ = try writer.append(event: $0, lsn: 7, timestamp: Self.ts) }
        #expect(try writer.rootSoFar() == Array(try FormatVectorTests.vector("segment-seal.hex")[96..<128]))
        try writer.sync()
        // A scan asked for the root so far at the record's end finds it too.
        let scan = try SegmentReader.scan(
            storage: disk, path: layout.segmentPath(Self.november),
            recordHasher: SegmentSeal.rootHasher(
                directoryID: SegmentTests.directoryID, month: Self.november, previousRoot: SegmentFiler.zeroRoot), rootSoFarAt: 4096 + record.count)
        #expect(scan.rootSoFar == (try writer.rootSoFar()))
    }

    /// Every byte of the vector flipped in turn is refused: the header CRC
    /// covers the header, a section CRC each section.
    @Test func everyFlippedByteIsRefused() throws {
        let vector = try FormatVectorTests.vector("open-month-index.hex")
        let disk = SimulatedDisk(seed: 3)
        try disk.makeDirectory("/v")
        for offset in vector.indices {
            var damaged = vector
            damaged[offset] ^= 0x04
            try disk.openFile("/v/d.omi", create: true).write(damaged, at: 0)
            #expect(throws: LedgerError.self, "byte \(offset)") {
                try OpenMonthIndexFile.read(storage: disk, path: "/v/d.omi", month: Self.november, directoryID: SegmentTests.directoryID, reserveEvents: 0)
            }
        }
        try disk.openFile("/v/d.omi", create: true).truncate(toSize: 100)
        #expect(throws: LedgerError.self) {
            try OpenMonthIndexFile.read(storage: disk, path: "/v/d.omi", month: Self.november, directoryID: SegmentTests.directoryID, reserveEvents: 0)
        }
    }

    /// Lists whose first elements are read in place from saved bytes and
    /// the rest appended: every range reads what was put, across the seam.
    @Test func savedListsReadEveryRangeAcrossTheSavedPart() throws {
        let disk = SimulatedDisk(seed: 4)
        try disk.makeDirectory("/v")
        let values: [UInt64] = [10, 11, 12, 20, 21]
        try disk.openFile("/v/l", create: true).write(values.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }, at: 0)
        let bytes = try SavedIndexBytes(file: try disk.openFileForReading("/v/l"), count: 40)
        var lists = SavedLists<UInt64>(saved: bytes, starts: [0, 24], counts: [3, 2], filler: 0)
        for v: UInt64 in [13, 14, 15, 16, 17, 18, 19] { lists.append(v, to: 0) }
        let added = lists.addList()
        lists.append(30, to: added)
        var expected: [[UInt64]] = [Array(10...19), [20, 21], [30]]
        for v: UInt64 in 22...29 { lists.append(v, to: 1) }
        expected[1] = Array(20...29)
        for list in 0..<3 {
            #expect(lists.count(list) == expected[list].count)
            for a in 0...expected[list].count {
                for b in a...expected[list].count { #expect(lists.elements(list, a..<b) == Array(expected[list][a..<b]), "list \(list) \(a)..<\(b)") }
            }
            #expect(expected[list].indices.map { lists[list, $0] } == expected[list])
        }
        var array = EventArray<UInt64>(saved: bytes, offset: 8, count: 2)
        array.append(99)
        #expect(Array(array) == [11, 12, 99] && array.heldBytes == 8)
    }
}
