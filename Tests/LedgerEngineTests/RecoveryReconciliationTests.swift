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

    /// `ledgerctl recover --from-segments`: the lost group comes back from
    /// the segment under its own LSN, the bytes it replaces are kept, and
    /// the directory then opens with every acknowledged entry and verifies.
    @Test func lostTailIsRestoredFromTheSegmentUnderItsOwnLSNs() throws {
        let disk = try Faults.setUp(seed: 23)
        let walEnd = try Self.loseTheLastAcknowledgedGroup(disk)
        let segment = try #require(disk.names().first { $0.hasSuffix(".seg") })
        var lost: [(lsn: UInt64, entry: NewEntry)] = []
        _ = try SegmentReader.scan(storage: disk, path: segment) { record in
            guard record.header.lsn > walEnd, case .createEntry(let entry) = EventBatchReader.decode(record.event, at: 0) else { return }
            lost.append((record.header.lsn, entry))
        }
        try #require(!lost.isEmpty)
        let walPath = try #require(disk.names().filter { $0.hasSuffix(".log") }.last)
        let walBefore = disk.bytes(walPath)

        let report = try SegmentTailRestore.run(at: Self.root, storage: disk)
        #expect(report.lsns == (walEnd + 1)...(walEnd + 1) && report.events == lost.count)
        let saved = try #require(report.savedBytesPath)
        let keptBytes = disk.bytes(saved) == Array(walBefore[report.offset..<(report.offset + disk.bytes(saved).count)])
        #expect(keptBytes, "the replaced WAL bytes were not kept")
        #expect(report.chainMatchesDamagedRecord != nil)

        let log = LogLines()
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Faults.options(log))
        #expect(ledger.recovery.lastLSN == walEnd + 1)
        #expect(try ledger.missingEntries(lost.map(\.entry.id)).isEmpty)
        for (lsn, entry) in lost { #expect(try ledger.lookup(entryID: entry.id)?.lsn == lsn) }
        // Posting a restored entry again is a duplicate, not a second filing.
        #expect(try ledger.submitAndWait(EventBatch([.createEntry(lost[0].entry)])) == [.exists])
        try ledger.close()
        let verify = try Verifier.verify(at: Self.root, storage: disk)
        #expect(verify.passed, "\(verify.problems)")
    }

    /// On a healthy directory there is nothing to restore: refused, and no
    /// byte changes.
    @Test func restoreFromSegmentsRefusesWhenTheWALIsWhole() throws {
        let disk = try Faults.setUp(seed: 24)
        _ = try Faults.recordsAfterCleanClose(disk, batches: 3)
        let before = Self.files(disk)
        #expect(throws: LedgerError.self) { _ = try SegmentTailRestore.run(at: Self.root, storage: disk) }
        let unchanged = Self.files(disk) == before
        #expect(unchanged, "a refused restore wrote to the directory")
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

        let log = LogLines()
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

    /// Takes a snapshot after 6 batches, posts `more` batches, closes;
    /// returns the snapshot's path.
    static func snapshotThenMore(_ disk: SimulatedDisk, seed: UInt64, more: Int = 4) throws -> String {
        var rng = SeededRandom(seed: seed)
        let ledger = try Ledger.open(at: root, storage: disk, options: Faults.options())
        _ = Faults.post(ledger, batches: 6, firstID: 1_000, rng: &rng)
        let snapshot = try ledger.snapshot()
        _ = Faults.post(ledger, batches: more, firstID: 2_000, rng: &rng)
        try ledger.close()
        return snapshot.path
    }

    /// Rewrites the snapshot with `edit` applied to its state, with every
    /// checksum recomputed (SHA-256 of the body, CRC of the header).
    static func rewrite(_ path: String, _ disk: SimulatedDisk, chainHead: [UInt8]? = nil, _ edit: (inout LedgerStateMachine) -> Void) throws {
        let directoryID = try DataDirectoryMeta.read(storage: disk, layout: DataDirectoryLayout(root: root)).directoryID
        var (header, machine, filter) = try SnapshotStore.load(path: path, storage: disk, directoryID: directoryID)
        edit(&machine)
        try disk.removeFile(path)
        try SnapshotStore.write(
            machine, filter: filter, lsn: header.lsn, chainHead: chainHead ?? header.chainHead, directoryID: directoryID, storage: disk,
            layout: DataDirectoryLayout(root: root)
        )
        header = try SnapshotStore.load(path: path, storage: disk, directoryID: directoryID).0  // it loads: only a cross-check can tell
    }

    @Test func snapshotWithAnAlteredBalanceAndRecomputedChecksumsRefusesToOpenNamingTheAccount() throws {
        let disk = try Faults.setUp(seed: 23)
        let path = try Self.snapshotThenMore(disk, seed: 23)
        let index = DataDirectoryLayout(root: Self.root).indexPath
        let indexBefore = disk.bytes(index)
        try Self.rewrite(path, disk) { $0.accounts[3].creditsPosted += 1_000_000 }
        do {
            _ = try Ledger.open(at: Self.root, storage: disk, options: Faults.options())
            Issue.record("served a snapshot whose balance was altered")
        } catch let error as LedgerError {
            #expect(error.code == .corruption)
            #expect(error.message.contains("account 4:") && error.message.contains(path), "\(error)")
        }
        let indexUnchanged = disk.bytes(index) == indexBefore
        #expect(indexUnchanged, "the refused open rewrote the index")
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(!report.passed)
        #expect(report.problems.contains { $0.file == path && $0.message.contains("account 4") }, "\(report.problems)")
    }

    @Test func snapshotWhoseChainHeadDiffersFromTheWALRecordAtItsLSNRefusesToOpen() throws {
        // Nothing after the snapshot: no later record's chain link checks it,
        // only the record at its own LSN can.
        let disk = try Faults.setUp(seed: 24)
        let path = try Self.snapshotThenMore(disk, seed: 24, more: 0)
        try Self.rewrite(path, disk, chainHead: [UInt8](repeating: 7, count: 32)) { _ in }
        do {
            _ = try Ledger.open(at: Self.root, storage: disk, options: Faults.options())
            Issue.record("served a snapshot whose chain head is not the log's")
        } catch let error as LedgerError {
            #expect(error.code == .corruption)
            #expect(error.message.contains("chain"), "\(error)")
        }
    }
}

/// Queries never answer from a sealed month whose records were edited,
/// even with every record CRC recomputed: the month root is checked first.
@Suite struct SealedMonthRootTests {
    /// Adds 1 to both amounts of the first two-posting entry in the segment at
    /// `path` (still balanced) and recomputes its record CRC, so only a month
    /// root or a cross-check can notice; the entry's id, nil if none.
    static func editFirstEntryAmounts(_ disk: SimulatedDisk, _ path: String) throws -> UInt128? {
        var target: (offset: Int, header: SegmentRecordHeader, event: [UInt8])?
        let scan = try SegmentReader.scan(storage: disk, path: path) { record in
            if target == nil, record.event[0] == EventFormat.kindCreateEntry, record.event.count >= 144 {
                target = (record.offset, record.header, Array(record.event))
            }
        }
        guard var (offset, header, event) = target else { return nil }
        event[64 + 16] &+= 1
        event[104 + 16] &+= 1
        var record = [UInt8](repeating: 0, count: SegmentFormat.recordHeaderBytes + event.count)
        _ = event.withUnsafeBytes { e in
            record.withUnsafeMutableBytes {
                SegmentRecordHeader.encode(event: e, lsn: header.lsn, timestamp: header.timestamp, seed: scan.header.recordSeed, into: $0)
            }
        }
        let file = try disk.openFile(path, create: false)
        try file.write(record, at: offset)
        try file.sync()
        // The edited record passes its own checks.
        header = try SegmentReader.readRecord(file: file, at: offset, seed: scan.header.recordSeed, end: try file.size()).header
        return event.withUnsafeBytes { _LE.u128($0, 16) }
    }

    /// With a two-month window the directory opens (its replay never reads
    /// October) and the queries refuse; with one month, the replay looks a
    /// retried October id up there, and the open itself refuses, naming the
    /// segment. Nothing is served from the altered month either way.
    @Test(arguments: [2, 1]) func editedSealedRecordWithRecomputedCRCIsRefusedByLookupAndHistory(windowMonths: Int) throws {
        let disk = SimulatedDisk(seed: 31)
        var (ledger, clock, _) = try SegmentQueryTests.fourMonths(seed: 31, disk: disk, windowMonths: windowMonths)
        try ledger.close()
        let layout = DataDirectoryLayout(root: SegmentQueryTests.root)
        let october = UTCMonth(year: 2026, month: 10)
        let path = layout.segmentPath(october)
        // The first posted entry of October: both amounts +1 (still balanced),
        // the record's CRC recomputed.
        try #require(try SegmentReader.scan(storage: disk, path: path).seal != nil)
        let entryID = try #require(try Self.editFirstEntryAmounts(disk, path))

        if windowMonths == 1 {
            #expect {
                try Ledger.open(at: SegmentQueryTests.root, storage: disk, options: SegmentQueryTests.options(clock))
            } throws: { error in
                let e = error as? LedgerError
                return e?.code == .corruption && e?.path == path && e!.message.contains("2026-10") && e!.message.contains("month root")
                    && e!.message.contains("ledgerctl verify")
            }
            return
        }
        ledger = try Ledger.open(at: SegmentQueryTests.root, storage: disk, options: SegmentQueryTests.options(clock))
        defer { try? ledger.close() }
        for query in ["lookup", "history"] {
            do {
                if query == "lookup" { _ = try ledger.lookup(entryID: entryID) } else { _ = try ledger.history(account: 1, limit: 100_000) }
                Issue.record("\(query) answered from an altered sealed month")
            } catch let error as LedgerError {
                #expect(error.code == .corruption && error.path == path, "\(query): \(error)")
                #expect(
                    error.message.contains("2026-10") && error.message.contains("month root") && error.message.contains("ledgerctl verify"),
                    "\(query): \(error)")
            }
        }
    }
}
