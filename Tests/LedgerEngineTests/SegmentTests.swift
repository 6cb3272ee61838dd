import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

@Suite struct SegmentTests {
    static let directoryID: [UInt8] = Array(0xF0...0xFF)
    static let root = "/sim/seg"

    // MARK: UTC months (expected values from Python's datetime)

    @Test func monthsFollowTheUTCCalendarIncludingLeapYears() {
        let second: UInt64 = 1_000_000_000
        #expect(UTCMonth(containing: 1_795_219_200 * second) == UTCMonth(year: 2026, month: 11))
        #expect(UTCMonth(year: 2026, month: 12).startNs == 1_796_083_200 * second)
        #expect(UTCMonth(containing: 1_796_083_200 * second - 1) == UTCMonth(year: 2026, month: 11))
        #expect(UTCMonth(containing: 1_709_164_800 * second) == UTCMonth(year: 2024, month: 2))  // 2024-02-29
        #expect(UTCMonth(year: 2024, month: 3).startNs == 1_709_251_200 * second)
        #expect(UTCMonth(year: 2100, month: 3).startNs == 4_107_542_400 * second)  // 2100 is not a leap year
        #expect(UTCMonth(containing: 0) == UTCMonth(year: 1970, month: 1))
        #expect(UTCMonth(year: 2026, month: 12).next == UTCMonth(year: 2027, month: 1))
        #expect(DataDirectoryLayout.segmentFileName(UTCMonth(year: 2026, month: 9)) == "2026-09.seg")
        #expect(DataDirectoryLayout.month(ofSegmentFileName: "2026-09.seg") == UTCMonth(year: 2026, month: 9))
        #expect(DataDirectoryLayout.month(ofSegmentFileName: "2026-13.seg") == nil)
    }

    // MARK: Vectors (Specs/vectors/generate.py)

    @Test func segmentVectorsDecodeAndReencode() throws {
        let headerBytes = try FormatVectorTests.vector("segment-header.hex")
        let header = SegmentFileHeader(month: UTCMonth(year: 2026, month: 11), directoryID: Self.directoryID)
        #expect(Array(header.encoded()[0..<SegmentFormat.fileHeaderUsedBytes]) == headerBytes)
        #expect(try SegmentFileHeader.decode(headerBytes, path: "vector") == header)

        let recordBytes = try FormatVectorTests.vector("segment-record.hex")
        let entry = try FormatVectorTests.vector("event-entry-posted.hex")
        var encoded = [UInt8](repeating: 0, count: SegmentFormat.recordHeaderBytes + entry.count)
        entry.withUnsafeBytes { event in
            encoded.withUnsafeMutableBytes { out in
                _ = SegmentRecordHeader.encode(event: event, lsn: 7, timestamp: 1_795_219_200_000_000_000, seed: header.recordSeed, into: out)
            }
        }
        #expect(encoded == recordBytes)
        let decoded = try #require(recordBytes.withUnsafeBytes { SegmentRecordHeader.standalone($0, at: 0, seed: header.recordSeed) })
        #expect(decoded.lsn == 7 && decoded.timestamp == 1_795_219_200_000_000_000 && decoded.eventBytes == entry.count)
        let frontierBytes = try FormatVectorTests.vector("segment-frontier.hex")
        let frontier = SegmentFrontier(generation: 1, durableEndOffset: 4096 + recordBytes.count, lastLSN: 7)
        #expect(frontier.encoded(seed: header.recordSeed) == frontierBytes)
        #expect(frontierBytes.withUnsafeBytes { SegmentFrontier.decode($0, seed: header.recordSeed) } == .some(.some(frontier)))
        // A record never validates under another month's or directory's seed.
        let october = SegmentFileHeader(month: UTCMonth(year: 2026, month: 10), directoryID: Self.directoryID)
        #expect(recordBytes.withUnsafeBytes { SegmentRecordHeader.standalone($0, at: 0, seed: october.recordSeed) } == nil)

        // The seal of a month holding only that record.
        let november = UTCMonth(year: 2026, month: 11)
        let root = SegmentSeal.rootHasher(directoryID: Self.directoryID, month: november, previousRoot: SegmentFiler.zeroRoot)
        root.update(recordBytes)
        let monthRoot = root.finish()
        let sealBytes = try FormatVectorTests.vector("segment-seal.hex")
        var closing1 = AccountBalances()
        var closing2 = AccountBalances()
        (closing1.debitsPosted, closing1.debitsPending, closing2.creditsPosted, closing2.creditsPending) = (2500, 100, 2500, 100)
        let seal = SegmentSeal(
            recordCount: 1, firstLSN: 7, lastLSN: 7, firstTimestamp: 1_795_219_200_000_000_000, lastTimestamp: 1_795_219_200_000_000_000,
            previousMonth: nil, previousRoot: SegmentFiler.zeroRoot, monthRoot: monthRoot,
            totals: [LedgerTotals(ledger: 840, debitsPosted: 2500, creditsPosted: 2500)],
            accounts: [SegmentAccount(id: 1, ledger: 840, flags: [], balances: closing1), SegmentAccount(id: 2, ledger: 840, flags: [], balances: closing2)],
            holds: [(77, SegmentHold(position: SegmentPosition(month: november, offset: 4096), postings: [.debit(1, 100), .credit(2, 100)]))])
        #expect(seal.encoded(seed: header.recordSeed) == sealBytes)
        #expect(sealBytes.withUnsafeBytes { SegmentSeal.decode($0, seed: header.recordSeed) } == seal)
        var flipped = sealBytes
        flipped[200] ^= 1
        #expect(flipped.withUnsafeBytes { SegmentSeal.decode($0, seed: header.recordSeed) } == nil)

        // The month's index: built from the record, encoded, then read back.
        var state = SegmentState()
        state.restore(SegmentAccount(id: 1, ledger: 840, flags: [], balances: AccountBalances()))
        state.restore(SegmentAccount(id: 2, ledger: 840, flags: [], balances: AccountBalances()))
        var builder = MonthIndexBuilder(month: november)
        try entry.withUnsafeBytes { try builder.add(event: $0, offset: 4096, timestamp: 1_795_219_200_000_000_000, state: &state) }
        let indexBytes = try FormatVectorTests.vector("segment-index.hex")
        #expect(try MonthIndexFormat.encode(builder, directoryID: Self.directoryID, monthRoot: monthRoot, recordCount: 1) == indexBytes)
        let disk = SimulatedDisk(seed: 1)
        try disk.openFile("/v.idx", create: true).write(indexBytes, at: 0)
        let index = try MonthIndexFile(storage: disk, path: "/v.idx", month: november, directoryID: Self.directoryID, monthRoot: monthRoot)
        let account = try #require(try index.account(2))
        #expect(account.closing.creditsPosted == 2500 && account.opening == AccountBalances() && account.eventCount == 1)
        #expect(try index.eventRefs(of: account, 0..<1) == [AccountEventRef(timestamp: 1_795_219_200_000_000_000, offset: 4096, pendingPosition: .none)])
        #expect(try index.entryOffset(1001) == 4096)
        #expect(try index.entryOffset(1002) == nil && index.account(3) == nil)
    }

    // MARK: Writer and reader

    static let november = UTCMonth(year: 2026, month: 11)

    /// Appends `count` entries at one-second steps from the month's start.
    static func appendEntries(_ writer: SegmentWriter, from first: Int, count: Int) throws {
        for i in first..<(first + count) {
            let batch = EventBatch([transfer(UInt128(1_000 + i), from: 1, to: 2, UInt128(i + 1))])
            try batch.bytes.withUnsafeBytes { event in
                try writer.append(event: event, lsn: UInt64(i / 3 + 1), timestamp: november.startNs + UInt64(i + 1) * 1_000_000_000)
            }
        }
    }

    static func scannedIDs(_ disk: SimulatedDisk) throws -> [UInt128] {
        var ids: [UInt128] = []
        _ = try SegmentReader.scan(storage: disk, path: DataDirectoryLayout(root: root).segmentPath(november), expectedDirectoryID: directoryID) { record in
            if case .createEntry(let entry) = EventBatchReader.decode(record.event, at: 0) { ids.append(entry.id) }
        }
        return ids
    }

    static func makeDisk() throws -> SimulatedDisk {
        let disk = SimulatedDisk(seed: 1)
        try disk.makeDirectory(root)
        return disk
    }

    /// Found by the `segment` fuzz target: a header (CRC recomputed) whose
    /// previous month is number 0 (year 0) trapped in `UTCMonth`. Months read
    /// from files are range-checked: the header, the seal, archive headers
    /// and index positions refuse such values as corruption.
    @Test func monthNumbersOutOfRangeInFilesAreCorruptionNotATrap() throws {
        var header = try FormatVectorTests.vector("segment-header.hex")
        header.withUnsafeMutableBytes { p in
            _LE.put(p, 40, UInt32(1))  // previous month number + 1: month 0, year 0
            _LE.put(p, 124, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<124]))))
        }
        #expect(throws: LedgerError.self) { _ = try SegmentFileHeader.decode(header, path: "fuzzed") }
        #expect(UTCMonth(checkedNumber: 0) == nil && UTCMonth(checkedNumber: -1) == nil && UTCMonth(checkedNumber: 10_000 * 12) == nil)
        #expect(UTCMonth(checkedNumber: 2026 * 12 + 10) == UTCMonth(year: 2026, month: 11))
        #expect(UTCMonth(checkedYear: 0, month: 11) == nil && UTCMonth(checkedYear: 2026, month: 13) == nil)
        #expect(!SegmentPosition(rawValue: 1).isValid && SegmentPosition.none.isValid)
        #expect(SegmentPosition(month: UTCMonth(year: 2026, month: 11), offset: 4096).isValid)
        var archive = try FormatVectorTests.vector("archive-zstd.hex")
        archive.withUnsafeMutableBytes { p in
            _LE.put(p, 16, UInt16(0))  // year 0
            _LE.put(p, 124, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<124]))))
        }
        #expect(throws: LedgerError.self) { _ = try ArchiveHeader.decode(Array(archive[0..<ArchiveFormat.headerUsedBytes]), path: "fuzzed") }
    }

    @Test func appendedRecordsReadBackInOrderAfterReopen() throws {
        let disk = try Self.makeDisk()
        let layout = DataDirectoryLayout(root: Self.root)
        var writer: SegmentWriter? = try SegmentWriter(storage: disk, layout: layout, month: Self.november, directoryID: Self.directoryID)
        try Self.appendEntries(writer!, from: 0, count: 12_000)  // > one 1 MiB buffer
        try writer!.sync()
        writer = nil
        disk.crash(mode: .dropUnsynced)
        #expect(try Self.scannedIDs(disk) == (0..<12_000).map { UInt128(1_000 + $0) })
        let reopened = try SegmentWriter(storage: disk, layout: layout, month: Self.november, directoryID: Self.directoryID)
        #expect(reopened.recordCount == 12_000)
        try Self.appendEntries(reopened, from: 12_000, count: 10)
        try reopened.sync()
        #expect(try Self.scannedIDs(disk).count == 12_010)
    }

    @Test(arguments: testSeeds(10))
    func tornUnsyncedTailIsTruncatedOnReopen(seed: UInt64) throws {
        let disk = SimulatedDisk(seed: seed)
        try disk.makeDirectory(Self.root)
        let layout = DataDirectoryLayout(root: Self.root)
        let writer = try SegmentWriter(storage: disk, layout: layout, month: Self.november, directoryID: Self.directoryID)
        try Self.appendEntries(writer, from: 0, count: 500)
        try writer.sync()
        try Self.appendEntries(writer, from: 500, count: 8_000)
        try writer.flush()  // written, never synced
        disk.crash(mode: .tornUnsynced)
        let reopened = try SegmentWriter(storage: disk, layout: layout, month: Self.november, directoryID: Self.directoryID)
        let ids = try Self.scannedIDs(disk)
        #expect(ids.count >= 500 && ids.count == reopened.recordCount, "seed \(seed)")
        #expect(ids == (0..<ids.count).map { UInt128(1_000 + $0) }, "seed \(seed): a gap or reordering survived")
    }

    @Test func corruptRecordBeforeValidOnesIsNamedWithFileAndOffset() throws {
        let disk = try Self.makeDisk()
        let layout = DataDirectoryLayout(root: Self.root)
        let writer = try SegmentWriter(storage: disk, layout: layout, month: Self.november, directoryID: Self.directoryID)
        try Self.appendEntries(writer, from: 0, count: 100)
        try writer.sync()
        let path = layout.segmentPath(Self.november)
        var offsets: [Int] = []
        _ = try SegmentReader.scan(storage: disk, path: path) { offsets.append($0.offset) }
        disk.corrupt(path, at: offsets[40] + SegmentFormat.recordHeaderBytes + 20)
        do {
            _ = try SegmentReader.scan(storage: disk, path: path)
            Issue.record("a corrupt record in the middle was not reported")
        } catch let error as LedgerError {
            #expect(error.code == .corruption && error.path == path && error.offset == offsets[40])
        }
        #expect(throws: LedgerError.self) { _ = try SegmentWriter(storage: disk, layout: layout, month: Self.november, directoryID: Self.directoryID) }
    }

    @Test func tornFrontierSlotFallsBackToTheOlderFrontier() throws {
        let disk = try Self.makeDisk()
        let layout = DataDirectoryLayout(root: Self.root)
        let writer = try SegmentWriter(storage: disk, layout: layout, month: Self.november, directoryID: Self.directoryID)
        try Self.appendEntries(writer, from: 0, count: 50)
        try writer.sync()
        let first = writer.frontier
        try Self.appendEntries(writer, from: 50, count: 50)
        try writer.sync()
        #expect(writer.frontier.generation == first.generation + 1)
        // Damage the newest slot: the older one still holds, and the records
        // after it are treated as not yet synced (valid ones are kept).
        let path = layout.segmentPath(Self.november)
        let newestSlot = SegmentFormat.frontierSlotOffsets[Int((writer.frontier.generation - 1) % 2)]
        disk.corrupt(path, at: newestSlot + 9)
        let scan = try SegmentReader.scan(storage: disk, path: path)
        #expect(scan.frontier == first)
        #expect(scan.recordCount == 100)
        // Both slots damaged: no frontier can be trusted, which is corruption.
        disk.corrupt(path, at: SegmentFormat.frontierSlotOffsets[Int(first.generation - 1) % 2] + 9)
        #expect(throws: LedgerError.self) { _ = try SegmentReader.scan(storage: disk, path: path) }
    }

    @Test func segmentFromAnotherDirectoryOrMonthIsRefused() throws {
        let disk = try Self.makeDisk()
        let layout = DataDirectoryLayout(root: Self.root)
        _ = try SegmentWriter(storage: disk, layout: layout, month: Self.november, directoryID: Self.directoryID)
        #expect(throws: LedgerError.self) {
            _ = try SegmentWriter(storage: disk, layout: layout, month: Self.november, directoryID: Array(repeating: 1, count: 16))
        }
        // A November file renamed to December.
        try disk.rename(layout.segmentPath(Self.november), to: layout.segmentPath(Self.november.next))
        #expect(throws: LedgerError.self) { _ = try SegmentReader.scan(storage: disk, path: layout.segmentPath(Self.november.next)) }
    }
}
