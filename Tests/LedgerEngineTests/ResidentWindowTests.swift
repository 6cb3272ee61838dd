import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The resident window: entry records older than the previous month of
/// activity leave memory, and their ids are still found, through the sealed
/// months, for idempotency and for settling holds, after recovery from the
/// WAL and from a snapshot too.
@Suite struct ResidentWindowTests {
    static let root = "/sim/window"
    static let day: UInt64 = 86_400 * 1_000_000_000

    static func options(_ clock: TestClock, windowMonths: Int = 1) -> Ledger.Options {
        var options = Ledger.Options()
        options.residentWindowMonths = windowMonths
        options.walFileBytes = 256 * 1024
        options.snapshotIntervalWALBytes = 0
        options.clock = { clock.read() }
        return options
    }

    static func submit(_ ledger: Ledger, _ events: [Event]) throws -> [ResultCode] {
        try ledger.submitAndWait(EventBatch(events))
    }

    /// A new ledger on `disk`, its clock a day into September 2026, with
    /// accounts 1 and 2.
    static func septemberLedger(_ disk: SimulatedDisk) throws -> (TestClock, Ledger) {
        let clock = TestClock(UTCMonth(year: 2026, month: 9).startNs + Self.day)
        try Ledger.initialize(at: Self.root, storage: disk, options: Self.options(clock))
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        #expect(try Self.submit(ledger, [usd(1), usd(2)]) == [.ok, .ok])
        return (clock, ledger)
    }

    /// Under either rule (fixed at `initialize`, read back from the meta by
    /// every open).
    @Test(arguments: [1, 2]) func oldMonthsLeaveMemoryButTheirIdsAreStillKnown(windowMonths: Int) throws {
        let disk = SimulatedDisk(seed: 3)
        let september = UTCMonth(year: 2026, month: 9)
        let clock = TestClock(september.startNs + Self.day)
        try Ledger.initialize(at: Self.root, storage: disk, options: Self.options(clock, windowMonths: windowMonths))
        var ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        #expect(try Self.submit(ledger, [usd(1), usd(2), usd(3)]) == [.ok, .ok, .ok])
        // September: 300 transfers, a hold left open (no timeout), one posted, one voided.
        var septemberIDs: [UInt128] = []
        for i in 0..<300 {
            let id = UInt128(10_000 + i)
            septemberIDs.append(id)
            #expect(try Self.submit(ledger, [transfer(id, from: 1, to: 2, 5)]) == [.ok])
            clock.advance(Self.day / 20)
        }
        #expect(try Self.submit(ledger, [transfer(500, from: 1, to: 3, 70, kind: .pending)]) == [.ok])
        #expect(try Self.submit(ledger, [transfer(501, from: 1, to: 3, 40, kind: .pending)]) == [.ok])
        #expect(try Self.submit(ledger, [transfer(502, from: 1, to: 3, 30, kind: .pending)]) == [.ok])
        #expect(try Self.submit(ledger, [.createEntry(NewEntry(id: 601, kind: .postPending, postings: [], pendingID: 501))]) == [.ok])
        #expect(try Self.submit(ledger, [.createEntry(NewEntry(id: 602, kind: .voidPending, postings: [], pendingID: 502))]) == [.ok])
        // October, then November: entering November evicts September.
        clock.advance(UTCMonth(year: 2026, month: 10).startNs + Self.day - clock.read())
        #expect(try Self.submit(ledger, [transfer(20_000, from: 2, to: 1, 1)]) == [.ok])
        let residentBefore = try ledger.read { $0.entryCount }
        clock.advance(UTCMonth(year: 2026, month: 11).startNs + Self.day - clock.read())
        #expect(try Self.submit(ledger, [transfer(30_000, from: 2, to: 1, 1)]) == [.ok])
        let (resident, windowStart) = try ledger.read { ($0.entryCount, $0.residentSinceNs) }
        // Both rules: September left at that batch (two months: it is the
        // first of November; one month: its group starts with October
        // succeeded already).
        #expect(windowStart == UTCMonth(year: 2026, month: 10).startNs)
        #expect(resident <= 4 && resident < residentBefore, "September's records left memory: \(resident) of \(residentBefore) resident")

        try Self.expectOldIDsKnown(ledger, septemberIDs, "engine open")
        // One month: the next group started with November succeeded, so
        // October left too.
        let windowAtClose = try ledger.read { $0.residentSinceNs }
        #expect(windowAtClose == UTCMonth(year: 2026, month: windowMonths == 1 ? 11 : 10).startNs)
        #expect(ledger.evicted.foundOnDisk > 0, "the duplicates were found on disk")
        // A settled hold from September cannot be settled again; the open one can.
        #expect(try Self.submit(ledger, [.createEntry(NewEntry(id: 603, kind: .postPending, postings: [], pendingID: 502))]) == [.pendingSettledLongAgo])
        #expect(try Self.submit(ledger, [.createEntry(NewEntry(id: 604, kind: .postPending, postings: [], pendingID: 500))]) == [.ok])
        #expect(try Self.submit(ledger, [.createEntry(NewEntry(id: 605, kind: .voidPending, postings: [], pendingID: 999_999))]) == [.pendingNotFound])
        let balances = try (1...3).map { try ledger.account(id: UInt128($0)) }
        try ledger.close()

        // Recovery from the WAL alone evicts at the same points and replays the same results.
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        #expect(try (1...3).map { try ledger.account(id: UInt128($0)) } == balances)
        #expect(try ledger.read { $0.residentSinceNs } == windowAtClose)
        #expect(try ledger.read { $0.residentWindowMonths } == windowMonths, "the rule comes from ledger.meta")
        try Self.expectOldIDsKnown(ledger, septemberIDs, "recovered from the WAL")
        // And from a snapshot, which holds only the resident records.
        try ledger.snapshot()
        let residentAtSnapshot = try ledger.read { $0.entryCount }
        try ledger.close()
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        #expect(ledger.recovery.snapshotLSN > 0)
        #expect(ledger.recovery.evictedFilterFromSnapshot, "the filter of evicted ids came from the snapshot, not from the sealed months")
        #expect(try ledger.read { ($0.entryCount, $0.residentSinceNs) } == (residentAtSnapshot, windowAtClose))
        try Self.expectOldIDsKnown(ledger, septemberIDs, "recovered from a snapshot")
        #expect(try ledger.missingEntries(septemberIDs).isEmpty)
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
    }

    /// A directory whose September (50 transfers, ids 10,000…10,049) was
    /// evicted, closed after a snapshot; the snapshot is then rewritten with
    /// `replacing`'s filter (given the one stored). Returns the snapshot.
    static func septemberEvicted(_ disk: SimulatedDisk, replacing: (EvictedIDFilter?) -> EvictedIDFilter?) throws -> (
        path: String, header: SnapshotHeader, clock: TestClock
    ) {
        let (clock, ledger) = try Self.septemberLedger(disk)
        for i in 0..<50 {
            #expect(try Self.submit(ledger, [transfer(UInt128(10_000 + i), from: 1, to: 2, 5)]) == [.ok])
            clock.advance(Self.day / 2)
        }
        for month in [10, 11] {
            clock.advance(UTCMonth(year: 2026, month: month).startNs + Self.day - clock.read())
            #expect(try Self.submit(ledger, [transfer(UInt128(20_000 + month), from: 2, to: 1, 1)]) == [.ok])
        }
        let path = try ledger.snapshot().path
        try ledger.close()
        #expect(try Verifier.verify(at: Self.root, storage: disk).passed)
        let layout = DataDirectoryLayout(root: Self.root)
        let directoryID = try DataDirectoryMeta.read(storage: disk, layout: layout).directoryID
        let (header, machine, stored) = try SnapshotStore.load(path: path, storage: disk, directoryID: directoryID)
        #expect(machine.residentSinceNs > 0)
        #expect(stored.map { f in (10_000..<10_050).allSatisfy { f.mightContain(UInt128($0)) } } == true, "September's ids are in the stored filter")
        try disk.removeFile(path)
        try SnapshotStore.write(
            machine, filter: replacing(stored), lsn: header.lsn, chainHead: header.chainHead, directoryID: directoryID, storage: disk, layout: layout)
        return (path, header, clock)
    }

    /// A snapshot stores the filter of evicted ids, and recovery trusts it
    /// instead of re-reading the sealed months; a stored filter that lacks an
    /// evicted id (a false negative: that id would be accepted again) is
    /// named by `verify`.
    @Test func verifyNamesASnapshotWhoseFilterLacksAnEvictedID() throws {
        let disk = SimulatedDisk(seed: 4)
        let (path, _, _) = try Self.septemberEvicted(disk) { _ in
            var lacking = EvictedIDFilter(capacity: EvictedEntries.filterCapacityMin)
            lacking.insert(1)  // one unrelated id
            return lacking
        }
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(!report.passed)
        #expect(
            report.problems.contains { $0.kind == "snapshot corruption" && $0.file == path && $0.message.contains("lacks entry 100") },
            "\(report.problems)")
    }

    /// A snapshot without a stored filter (format 3, or one whose state had
    /// evicted nothing when written) still recovers every evicted id: the
    /// filter is rebuilt from the sealed months' id tables.
    @Test func aSnapshotWithoutAFilterRebuildsItFromTheSealedMonths() throws {
        let disk = SimulatedDisk(seed: 6)
        let (_, header, clock) = try Self.septemberEvicted(disk) { _ in nil }
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        defer { try? ledger.close() }
        #expect(ledger.recovery.snapshotLSN == header.lsn && !ledger.recovery.evictedFilterFromSnapshot)
        for id: UInt128 in [10_000, 10_020, 10_049] {
            #expect(try Self.submit(ledger, [transfer(id, from: 1, to: 2, 5)]) == [.exists], "evicted id \(id) is known again")
        }
    }

    /// Recovery replays the WAL while the segments' open month is still
    /// scanned, filing nothing meanwhile. Here the WAL runs two months past
    /// the segments (their September is open; October and November were
    /// lost with the files), and November retries September's ids: from the
    /// first record past September on, recovery must file each record as it
    /// replays it, or the lookups of those evicted ids would wait forever
    /// for a sealed September.
    @Test func replayPastTheSegmentsOpenMonthFilesAsItReplays() throws {
        let disk = SimulatedDisk(seed: 7)
        let (clock, opened) = try Self.septemberLedger(disk)
        var ledger = opened
        for i in 0..<40 {
            #expect(try Self.submit(ledger, [transfer(UInt128(10_000 + i), from: 1, to: 2, 5)]) == [.ok])
            clock.advance(Self.day / 2)
        }
        try ledger.close()
        let segmentsInSeptember = disk.clone(seed: 8)
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        for month in [10, 11] {
            clock.advance(UTCMonth(year: 2026, month: month).startNs + Self.day - clock.read())
            #expect(try Self.submit(ledger, [transfer(UInt128(20_000 + month), from: 2, to: 1, 1)]) == [.ok])
        }
        let retries = [transfer(10_000, from: 1, to: 2, 5), transfer(10_039, from: 1, to: 2, 6), transfer(30_000, from: 1, to: 2, 7)]
        #expect(try Self.submit(ledger, retries) == [.exists, .existsWithDifferentFields, .ok])
        let balances = try [ledger.account(id: 1), ledger.account(id: 2)]
        try ledger.close()

        // The whole WAL, on the disk whose segments end in an open September.
        let layout = DataDirectoryLayout(root: Self.root)
        for name in try disk.listDirectory(Self.root) where DataDirectoryLayout.firstLSN(ofWALFileName: name) != nil {
            let file = try segmentsInSeptember.openFile(Self.root + "/" + name, create: true)
            try file.write(disk.bytes(Self.root + "/" + name), at: 0)
            try file.sync()
            file.close()
        }
        try segmentsInSeptember.syncDirectory(Self.root)
        #expect(try !segmentsInSeptember.listDirectory(layout.segmentsDirectory).contains { $0.hasPrefix("2026-10") })
        ledger = try Ledger.open(at: Self.root, storage: segmentsInSeptember, options: Self.options(clock))
        #expect(ledger.recovery.eventsRefiled == 3, "October's and November's events were filed from the WAL")
        #expect(ledger.evicted.foundOnDisk == 2, "the replayed retries found September's records in its sealed segment")
        #expect(try [ledger.account(id: 1), ledger.account(id: 2)] == balances)
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: segmentsInSeptember)
        #expect(report.passed, "\(report.problems)")
    }

    /// When the filter of evicted ids grows it takes every id of every
    /// sealed month, those still in the window too: it must be sized for
    /// them, not for what it held. Sized for what it held, a small evicted
    /// September and a large sealed October overfilled it, and the next
    /// snapshot was refused at open as corrupt (SealAndArchiveCrashTests).
    @Test func aGrowingFilterIsSizedForTheSealedMonthsItTakesIn() throws {
        let disk = SimulatedDisk(seed: 12)
        let (clock, ledger) = try Self.septemberLedger(disk)
        #expect(try Self.submit(ledger, (0..<100).map { transfer(UInt128(10_000 + $0), from: 1, to: 2, 1) }).allSatisfy { $0 == .ok })
        clock.advance(UTCMonth(year: 2026, month: 10).startNs + Self.day - clock.read())
        for chunk in 0..<20 {
            let events = (0..<1_000).map { transfer(UInt128(100_000 + chunk * 1_000 + $0), from: 1, to: 2, 1) }
            #expect(try ledger.submitAndWait(EventBatch(events)).allSatisfy { $0 == .ok })
        }
        clock.advance(UTCMonth(year: 2026, month: 11).startNs + Self.day - clock.read())
        #expect(try Self.submit(ledger, [transfer(900_000, from: 2, to: 1, 1)]) == [.ok])  // evicts September
        // Nothing is filed while segments are read: October is sealed by then.
        #expect(try ledger.readSegments { $0.sealedMonths.map(\.month) } == [UTCMonth(year: 2026, month: 9), UTCMonth(year: 2026, month: 10)])
        #expect(ledger.evicted.filteredIDCount <= EvictedEntries.filterCapacityMin)
        // More evicted ids than the smallest filter holds: it grows, taking
        // in October's 20,000 ids as well.
        try ledger.evicted.addEvicted((0..<4_100).map { UInt128(5_000_000 + $0) })
        #expect(ledger.evicted.filteredIDCount > 24_000)
        #expect(ledger.evicted.filteredIDCount <= ledger.evicted.filterCapacity)
        try ledger.snapshot()
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock)).close()
    }

    /// The memory report counts what the structures hold: the entry table
    /// grows with resident records, the open month's index with its events,
    /// and the filter appears once a month is evicted.
    @Test func memoryReportFollowsTheStructures() throws {
        let disk = SimulatedDisk(seed: 5)
        let clock = TestClock(UTCMonth(year: 2026, month: 9).startNs + Self.day)
        try Ledger.initialize(at: Self.root, storage: disk, options: Self.options(clock))
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        defer { try? ledger.close() }
        func report() throws -> [String: Int] { Dictionary(uniqueKeysWithValues: try ledger.memoryReport().map { ($0.name, $0.bytes) }) }
        #expect(try Self.submit(ledger, [usd(1), usd(2)]) == [.ok, .ok])
        let before = try report()
        for chunk in 0..<50 {  // past the table's smallest size; batches within the small test WAL's limit
            let events = (0..<1_000).map { transfer(UInt128(10_000 + chunk * 1_000 + $0), from: 1, to: 2, 1) }
            #expect(try ledger.submitAndWait(EventBatch(events)).allSatisfy { $0 == .ok })
        }
        let after = try report()
        #expect(after["entry records (resident window)"]! >= 50_000 * 40, "\(after)")
        #expect(after["entry records (resident window)"]! > before["entry records (resident window)"]!)
        #expect(after["open month's index"]! >= 50_000 * 2 * 24, "two refs of 24 bytes per entry: \(after)")
        #expect(after["filter of evicted ids"]! == before["filter of evicted ids"]!)
        for month in [10, 11] {
            clock.advance(UTCMonth(year: 2026, month: month).startNs + Self.day - clock.read())
            #expect(try Self.submit(ledger, [transfer(UInt128(900_000 + month), from: 2, to: 1, 1)]) == [.ok])
        }
        let evicted = try report()
        #expect(evicted["entry records (resident window)"]! < after["entry records (resident window)"]!, "September left memory: \(evicted)")
        #expect(evicted["filter of evicted ids"]! >= EvictedEntries.filterCapacityMin * 2)
    }

    /// Resubmitting old ids: the same fields → exists; other fields → existsWithDifferentFields; a new id → ok.
    static func expectOldIDsKnown(_ ledger: Ledger, _ ids: [UInt128], _ context: String) throws {
        for id in [ids[0], ids[150], ids[299]] {
            #expect(try submit(ledger, [transfer(id, from: 1, to: 2, 5)]) == [.exists], "\(context): \(id)")
            #expect(try submit(ledger, [transfer(id, from: 1, to: 2, 6)]) == [.existsWithDifferentFields], "\(context): \(id)")
            #expect(try ledger.entry(id: id)?.kind == .posted, "\(context): lookup of \(id)")
        }
        #expect(try ledger.entry(id: 501)?.holdState == .settledLongAgo, "\(context)")
        let fresh = UInt128(1_000_000) + UInt128(ledger.recovery.lastLSN) * 1000 + UInt128(ids.count)
        #expect(try submit(ledger, [transfer(fresh, from: 1, to: 2, 1)]) == [.ok], "\(context): a new id is new")
    }
}
