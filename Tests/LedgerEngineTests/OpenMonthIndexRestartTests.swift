import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Restarts with the open month's saved index: the same month index, state
/// and answers as indexing the month from its records, after a clean close
/// and (for the part it covers) after a crash; a saved index that does not
/// describe the segment is logged and not used; verify names one that
/// differs.
@Suite struct OpenMonthIndexRestartTests {
    static let root = SegmentQueryTests.root
    static let layout = DataDirectoryLayout(root: root)

    /// The open month as `ledger`'s filer holds it, in a form that compares:
    /// its index's tables, the segment state's accounts by id, its holds.
    static func openMonth(_ ledger: Ledger) throws -> String {
        try ledger.readSegments { filer in
            let t = filer.currentIndex!.t
            let refs = t.summaries.indices.map { t.refs.elements($0, 0..<t.refs.count($0)) }
            let checkpoints = t.summaries.indices.map { t.checkpoints.elements($0, 0..<t.checkpoints.count($0)) }
            let accounts = filer.state.accounts.sorted { $0.id < $1.id }
            let holds = filer.state.holds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            return
                "\(t.summaries) \(refs) \(checkpoints) \(Array(t.entryIDs)) \(Array(t.entryOffsets)) \(Array(t.records)) \(filer.currentIndex!.totals) \(accounts) \(holds)"
        }
    }

    /// The open month of the directory on `disk`, indexed from its records
    /// (on a copy without the saved index).
    static func scannedOpenMonth(_ disk: SimulatedDisk, _ clock: TestClock) throws -> String {
        let copy = disk.clone(seed: 5)
        for name in copy.names() where name.hasSuffix(".omi") { try copy.removeFile(name) }
        let ledger = try Ledger.open(at: root, storage: copy, options: SegmentQueryTests.options(clock))
        #expect(ledger.recovery.openMonthRecordsFromSavedIndex == 0)
        defer { try? ledger.close() }
        return try openMonth(ledger)
    }

    @Test func restartsUseTheSavedIndexAndAnswerAsIndexingFromTheRecordsWould() throws {
        let disk = SimulatedDisk(seed: 31)
        var (ledger, clock, workload) = try SegmentQueryTests.fourMonths(seed: 31, disk: disk)
        let (month, recordsAtClose, holdsAtClose) = try ledger.readSegments { ($0.current!.header.month, $0.current!.recordCount, $0.state.holds.count) }
        let path = Self.layout.openMonthIndexPath(month)
        try ledger.close()
        #expect(disk.fileExists(path) && holdsAtClose > 0)

        // A clean restart: the whole month from the saved index.
        ledger = try Ledger.open(at: Self.root, storage: disk, options: SegmentQueryTests.options(clock))
        #expect(ledger.recovery.openMonthRecordsFromSavedIndex == recordsAtClose)
        #expect(try Self.openMonth(ledger) == Self.scannedOpenMonth(disk, clock))
        try SegmentQueryTests.expectQueriesMatchOracle(ledger, disk, workload, "after a clean restart")

        // More filed, then a crash: the saved part from the file, the rest from the records.
        try workload.run(ledger, clock: clock, batches: 12, stepNsMax: 60 * 1_000_000_000)
        #expect(try ledger.readSegments { $0.current!.header.month } == month)
        disk.crash(mode: .dropUnsynced)
        ledger = try Ledger.open(at: Self.root, storage: disk, options: SegmentQueryTests.options(clock))
        #expect(ledger.recovery.openMonthRecordsFromSavedIndex == recordsAtClose)
        #expect(try ledger.readSegments { $0.current!.recordCount } > recordsAtClose)
        #expect(try Self.openMonth(ledger) == Self.scannedOpenMonth(disk, clock))
        try SegmentQueryTests.expectQueriesMatchOracle(ledger, disk, workload, "after a crash")

        // The month sealed: its saved index is gone; the next close saves the new month's.
        try workload.run(ledger, clock: clock, batches: 30, stepNsMax: 3 * 86_400 * 1_000_000_000)
        let next = try ledger.readSegments { $0.current!.header.month }
        #expect(next > month && !disk.fileExists(path))
        try ledger.close()
        #expect(disk.fileExists(Self.layout.openMonthIndexPath(next)))
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed && report.problems.isEmpty, "\(report.problems)")
    }

    /// The saved index of a four-month directory closed after more filing,
    /// with the index saved at the first close kept aside.
    static func twoCloses(seed: UInt64) throws -> (SimulatedDisk, TestClock, path: String, first: [UInt8], firstRecords: Int) {
        let reopened = try closedOnceAndReopened(seed: seed, batchesAfter: 10)
        try reopened.ledger.close()
        return (reopened.disk, reopened.clock, reopened.path, reopened.first, reopened.firstRecords)
    }

    /// A four-month directory closed once (its saved index kept aside),
    /// reopened, and `batchesAfter` more batches filed; still open.
    static func closedOnceAndReopened(seed: UInt64, batchesAfter: Int) throws -> (
        disk: SimulatedDisk, clock: TestClock, ledger: Ledger, workload: MultiMonthWorkload, path: String, first: [UInt8], firstRecords: Int
    ) {
        let disk = SimulatedDisk(seed: seed)
        var (ledger, clock, workload) = try SegmentQueryTests.fourMonths(seed: seed, disk: disk)
        let (month, records) = try ledger.readSegments { ($0.current!.header.month, $0.current!.recordCount) }
        try ledger.close()
        let path = Self.layout.openMonthIndexPath(month)
        let first = disk.bytes(path)
        ledger = try Ledger.open(at: Self.root, storage: disk, options: SegmentQueryTests.options(clock))
        try workload.run(ledger, clock: clock, batches: batchesAfter, stepNsMax: 60 * 1_000_000_000)
        return (disk, clock, ledger, workload, path, first, records)
    }

    static func put(_ disk: SimulatedDisk, _ path: String, _ bytes: [UInt8]) throws {
        let file = try disk.openFile(path, create: true)
        try file.truncate(toSize: 0)
        try file.write(bytes, at: 0)
        try file.sync()
    }

    /// `bytes` with `edit` applied at `offset`, every CRC made valid again.
    static func resealed(_ bytes: [UInt8], editing offset: Int, _ edit: (inout [UInt8]) -> Void) throws -> [UInt8] {
        var edited = bytes
        edit(&edited)
        let headerCRC = Checksum.mask(Checksum.crc32c(Array(edited[0..<(OpenMonthIndexFormat.headerBytes - 4)])))
        withUnsafeBytes(of: headerCRC.littleEndian) {
            edited.replaceSubrange((OpenMonthIndexFormat.headerBytes - 4)..<OpenMonthIndexFormat.headerBytes, with: $0)
        }
        var header = try #require(edited.withUnsafeBytes { OpenMonthIndexFormat.Header.decode($0) })
        for section in OpenMonthIndexFormat.Section.allCases {
            let start = header.sectionOffset(section)
            header.sectionCRCs[section.rawValue] = Checksum.mask(Checksum.crc32c(Array(edited[start..<(start + header.sectionBytes(section))])))
        }
        edited.replaceSubrange(0..<OpenMonthIndexFormat.headerBytes, with: header.encoded())
        return edited
    }

    @Test func aSavedIndexThatDoesNotDescribeTheSegmentIsLoggedAndNotUsed() throws {
        let (disk, clock, path, first, firstRecords) = try Self.twoCloses(seed: 32)
        let current = disk.bytes(path)
        let expected = try Self.scannedOpenMonth(disk, clock)
        func reopen(_ saved: [UInt8]) throws -> (Int, [String], String) {
            let copy = disk.clone(seed: 6)
            try Self.put(copy, path, saved)
            let lines = LogLines()
            let ledger = try Ledger.open(at: Self.root, storage: copy, options: SegmentQueryTests.options(clock, log: { lines.append($0) }))
            defer { try? ledger.close() }
            return (ledger.recovery.openMonthRecordsFromSavedIndex, lines.all, try Self.openMonth(ledger))
        }
        // The first close's index still describes the month's first part.
        let (prefix, _, prefixMonth) = try reopen(first)
        #expect(prefix == firstRecords && prefixMonth == expected)
        // A flipped byte: unusable.
        var flipped = current
        flipped[flipped.count - 5] ^= 1
        let (n1, lines1, month1) = try reopen(flipped)
        #expect(n1 == 0 && month1 == expected && lines1.contains { $0.contains("is unusable") }, "\(lines1)")
        // Valid CRCs, but another root so far (an edited segment): not its segment's.
        let otherRoot = try Self.resealed(current, editing: OpenMonthIndexFormat.rootSoFarOffset) { $0[OpenMonthIndexFormat.rootSoFarOffset] ^= 1 }
        let (n2, lines2, month2) = try reopen(otherRoot)
        #expect(n2 == 0 && month2 == expected && lines2.contains { $0.contains("do not hash to the saved root") }, "\(lines2)")
        // Valid CRCs, but the last record's timestamp (and the header's) moved.
        let header = try #require(current.withUnsafeBytes { OpenMonthIndexFormat.Header.decode($0) })
        let lastAt = header.sectionOffset(.records) + 24 * (header.recordCount - 1)
        let moved = try Self.resealed(current, editing: lastAt) { bytes in
            for at in [lastAt, 80] {
                let later = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self) } + 1_000
                withUnsafeBytes(of: later) { bytes.replaceSubrange(at..<(at + 8), with: $0) }
            }
        }
        let (n3, lines3, month3) = try reopen(moved)
        #expect(n3 == 0 && month3 == expected && lines3.contains { $0.contains("is not the saved index") }, "\(lines3)")
    }

    /// A full disk while the close saves the index: the close names it,
    /// leaves no half-written file and keeps the last one (it still
    /// describes the month's first part); everything else was synced first.
    @Test func aFullDiskWhileSavingLeavesNoHalfWrittenFile() throws {
        var (disk, clock, ledger, workload, path, first, records) = try Self.closedOnceAndReopened(seed: 34, batchesAfter: 5)
        disk.noSpace = { $0.hasSuffix(".omi.tmp") }
        #expect(throws: LedgerError.self) { try ledger.close() }
        disk.noSpace = nil
        #expect(!disk.fileExists(DataDirectoryLayout.temporaryPath(for: path)) && disk.bytes(path) == first)
        ledger = try Ledger.open(at: Self.root, storage: disk, options: SegmentQueryTests.options(clock))
        #expect(ledger.recovery.openMonthRecordsFromSavedIndex == records)
        try SegmentQueryTests.expectQueriesMatchOracle(ledger, disk, workload, "after a full disk at close")
        try ledger.close()
    }

    @Test func verifyNamesASavedIndexThatDiffersOrIsDamaged() throws {
        let (disk, _, path, first, _) = try Self.twoCloses(seed: 33)
        let current = disk.bytes(path)
        #expect(try Verifier.verify(at: Self.root, storage: disk).problems.isEmpty)
        // The first close's (a prefix) is also right.
        try Self.put(disk, path, first)
        #expect(try Verifier.verify(at: Self.root, storage: disk).problems.isEmpty)
        // An account's closing balance changed, CRCs made valid: an error.
        let header = try #require(current.withUnsafeBytes { OpenMonthIndexFormat.Header.decode($0) })
        let closing = header.sectionOffset(.accounts) + 96
        try Self.put(disk, path, try Self.resealed(current, editing: closing) { $0[closing] ^= 1 })
        let differs = try Verifier.verify(at: Self.root, storage: disk).problems
        #expect(differs.contains { $0.severity == .error && $0.kind == "open month index differs" && $0.file == path && $0.offset == closing }, "\(differs)")
        // A flipped byte: a warning.
        var flipped = current
        flipped[closing] ^= 1
        try Self.put(disk, path, flipped)
        let damaged = try Verifier.verify(at: Self.root, storage: disk).problems
        #expect(damaged.contains { $0.severity == .warning && $0.kind == "open month index damaged" }, "\(damaged)")
        #expect(!damaged.contains { $0.severity == .error }, "\(damaged)")
        // A covered end that is no record boundary (CRCs valid): an open
        // ignores it, so a warning.
        let moved = try Self.resealed(current, editing: 40) { $0[40] ^= 1 }
        try Self.put(disk, path, moved)
        let misplaced = try Verifier.verify(at: Self.root, storage: disk).problems
        #expect(misplaced.contains { $0.severity == .warning && $0.kind == "open month index damaged" && $0.offset == 40 }, "\(misplaced)")
        #expect(!misplaced.contains { $0.severity == .error }, "\(misplaced)")
    }
}

/// On real files the saved index is mapped and the open month's per-event
/// arrays read their saved part in place; filing more, the next close saves
/// the whole month again (reading the old file's mapping while the new one
/// replaces it), equal to indexing the month from its records.
@Suite struct MappedOpenMonthIndexTests {
    @Test func aMappedSavedIndexServesAndIsSavedAgainAsAScanWould() throws {
        var (dir, ledger, workload) = try MappedSegmentScanTests.ledger(seed: 12, batches: 60)
        let options = MappedSegmentScanTests.options
        let histories = try (1...UInt128(workload.accountCount)).map { try ledger.history(account: $0, limit: 10_000).items }
        try ledger.close()
        ledger = try Ledger.open(at: dir, options: options)
        let records = ledger.recovery.openMonthRecordsFromSavedIndex
        #expect(records > 100)
        #expect(try ledger.readSegments { $0.currentIndex!.t.records.savedCount } == records, "the records are read in place")
        #expect(try (1...UInt128(workload.accountCount)).map { try ledger.history(account: $0, limit: 10_000).items } == histories)
        for _ in 0..<20 { _ = try ledger.submitAndWait(workload.nextBatch()) }
        let after = try (1...UInt128(workload.accountCount)).map { try ledger.history(account: $0, limit: 10_000).items }
        let month = try ledger.readSegments { $0.current!.header.month }
        try ledger.close()
        let layout = DataDirectoryLayout(root: dir)
        let saved = try Array(Data(contentsOf: URL(fileURLWithPath: layout.openMonthIndexPath(month))))
        // The same month indexed from its records saves the same bytes.
        try FileManager.default.removeItem(atPath: layout.openMonthIndexPath(month))
        ledger = try Ledger.open(at: dir, options: options)
        #expect(ledger.recovery.openMonthRecordsFromSavedIndex == 0)
        #expect(try (1...UInt128(workload.accountCount)).map { try ledger.history(account: $0, limit: 10_000).items } == after)
        try ledger.close()
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: layout.openMonthIndexPath(month)))) == saved)
        #expect(try Verifier.verify(at: dir).problems.isEmpty)
    }
}
