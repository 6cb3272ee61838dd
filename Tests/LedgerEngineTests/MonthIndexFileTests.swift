import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// A sealed month's index finds accounts through its fences (one read of a
/// stretch of rows) and an account's first event at a moment from its refs
/// read whole, with the answers of the plain binary searches they replace
/// (issue 13, target 6: fewer dependent reads per cold history page).
@Suite struct MonthIndexFileTests {
    @Test(arguments: testSeeds(2))
    func fencesAndWholeRefsAnswerAsTheBinarySearchesDo(seed: UInt64) throws {
        let disk = SimulatedDisk(seed: seed)
        let root = SegmentQueryTests.root
        let clock = TestClock(UTCMonth(year: 2026, month: 9).startNs + 20 * 86_400 * 1_000_000_000)
        try Ledger.initialize(at: root, storage: disk, options: SegmentQueryTests.options(clock))
        let ledger = try Ledger.open(at: root, storage: disk, options: SegmentQueryTests.options(clock))
        // 100 accounts: five stretches of 23 rows, and each month touches
        // only some of them (absent ids fall before, between and after).
        var workload = MultiMonthWorkload(seed: seed, accountCount: 100)
        try workload.createAccounts(ledger)
        try workload.run(ledger, clock: clock, batches: 240, stepNsMax: 43_200 * 1_000_000_000)
        let directoryID = ledger.meta.directoryID
        try ledger.close()
        let layout = DataDirectoryLayout(root: root)
        let months = try SegmentFiler.months(storage: disk, layout: layout).dropLast()
        #expect(months.count >= 2, "seed \(seed): only \(months)")
        var rng = SeededRandom(seed: seed)
        for month in months {
            let seal = try #require(try SegmentReader.readSeal(storage: disk, path: layout.segmentPath(month), expectedDirectoryID: directoryID))
            let index = try MonthIndexFile(
                storage: disk, path: layout.segmentIndexPath(month), month: month, directoryID: directoryID, monthRoot: seal.monthRoot)
            #expect(index.accountCount > MonthIndexFile.accountFenceStride, "\(month): \(index.accountCount) accounts, one stretch")
            var found = 0
            for id in [0, 1_000_000_000, UInt128.max] + (1...UInt128(workload.accountCount)).map({ $0 }) {
                let row = try index.findRow(id, table: index.accountsOffset, rowBytes: MonthIndexFormat.accountBytes, count: index.accountCount)
                let account = try index.account(id)
                #expect(account?.id == row.map { _ in id }, "\(month): account \(id)")
                guard let account else { continue }
                found += 1
                // Moments at random, and at, just before and just after its events.
                let times = try index.eventRefs(of: account, 0..<account.eventCount).flatMap { [$0.timestamp - 1, $0.timestamp, $0.timestamp + 1] }
                for at in times + (0..<8).map({ _ in month.startNs + UInt64.random(in: 0..<(month.next.startNs - month.startNs + 1), using: &rng) }) {
                    #expect(
                        try index.firstEvent(of: account, atOrAfter: at) == (try index.firstEventByProbes(of: account, atOrAfter: at)),
                        "\(month): first event of \(id) at \(at)")
                }
            }
            #expect(found == index.accountCount, "\(month): \(found) of \(index.accountCount) accounts found")
        }
    }

    /// Re-indexing a month at open reserves its per-event arrays from the
    /// segment's size (no doublings), bounded whatever the size claims.
    @Test func reservationFollowsTheSegmentsSizeAndIsBounded() throws {
        let disk = SimulatedDisk(seed: 7)
        let root = SegmentQueryTests.root
        let clock = TestClock(UTCMonth(year: 2026, month: 9).startNs + 20 * 86_400 * 1_000_000_000)
        try Ledger.initialize(at: root, storage: disk, options: SegmentQueryTests.options(clock))
        let ledger = try Ledger.open(at: root, storage: disk, options: SegmentQueryTests.options(clock))
        var workload = MultiMonthWorkload(seed: 7)
        try workload.createAccounts(ledger)
        try workload.run(ledger, clock: clock, batches: 60, stepNsMax: 1_000_000_000)
        try ledger.close()
        let layout = DataDirectoryLayout(root: root)
        let month = try #require(try SegmentFiler.months(storage: disk, layout: layout).last)
        let records = try SegmentReader.scan(storage: disk, path: layout.segmentPath(month)).recordCount
        let estimate = try SegmentFiles.estimatedRecords(storage: disk, path: layout.segmentPath(month))
        // Two-posting entries are the norm; holds and account events are
        // smaller, so the estimate is at most the records, and near them.
        #expect(estimate >= records / 2 && estimate <= records, "estimate \(estimate) for \(records) records")
        #expect(try SegmentFiles.estimatedRecords(storage: disk, path: layout.segmentPath(month.next)) == 0)
        var builder = MonthIndexBuilder(month: month)
        builder.reserve(events: estimate)
        #expect(builder.reservedEvents >= estimate)
        builder.reserve(events: .max)  // a size no segment can have: bounded
        // (An allocation may round up a little.)
        #expect(builder.reservedEvents >= MonthIndexBuilder.reservedEventsMax && builder.reservedEvents < 2 * MonthIndexBuilder.reservedEventsMax)
    }
}

/// The open path maps the open month's segment instead of reading it into
/// a buffer of its size; on real files both give the same scan, and an
/// open of a directory with an unsealed month uses the mapping.
@Suite struct MappedSegmentScanTests {
    static let options = {
        var options = Ledger.Options()
        options.walFileBytes = 256 * 1024
        return options
    }()

    /// A ledger on real files in a fresh directory, its accounts created and
    /// `batches` random batches applied; left open.
    static func ledger(seed: UInt64, batches: Int) throws -> (dir: String, ledger: Ledger, workload: MultiMonthWorkload) {
        let dir = temporaryDirectory()
        try Ledger.initialize(at: dir, options: options)
        let ledger = try Ledger.open(at: dir, options: options)
        var workload = MultiMonthWorkload(seed: seed)
        try workload.createAccounts(ledger)
        for _ in 0..<batches { _ = try ledger.submitAndWait(workload.nextBatch()) }
        return (dir, ledger, workload)
    }

    @Test func aMappedScanEqualsAReadOne() throws {
        var (dir, ledger, workload) = try Self.ledger(seed: 11, batches: 40)
        let options = Self.options
        let balances = try (1...UInt128(workload.accountCount)).map { try ledger.account(id: $0) }
        try ledger.close()
        let storage = POSIXStorage()
        let layout = DataDirectoryLayout(root: dir)
        let month = try #require(try SegmentFiler.months(storage: storage, layout: layout).last)
        let file = try storage.openFileForReading(layout.segmentPath(month))
        defer { file.close() }
        let size = try file.size()
        let mapping = try #require(try file.mapForReading(count: size), "POSIX files map")
        #expect(Array(mapping.bytes) == (try file.readExactly(size, at: 0)))
        mapping.unmap()
        var readEvents: [[UInt8]] = []
        var mappedEvents: [[UInt8]] = []
        let read = try SegmentReader.scan(file: file, mapped: false) { readEvents.append(Array($0.event)) }
        let mapped = try SegmentReader.scan(file: file, mapped: true) { mappedEvents.append(Array($0.event)) }
        #expect(read.recordCount > 40 && mapped.recordCount == read.recordCount && mapped.endOffset == read.endOffset)
        #expect(mappedEvents == readEvents)
        // Reopening scans the open month through the mapping.
        ledger = try Ledger.open(at: dir, options: options)
        #expect(try (1...UInt128(workload.accountCount)).map { try ledger.account(id: $0) } == balances)
        #expect(try ledger.history(account: 1, limit: 1_000).items.last?.balances == balances[0].map { AccountBalances($0) })
        try ledger.close()
    }

    /// Recovery maps WAL files too, but never past a file's end: a WAL file
    /// shorter than its header says is refused as before, not a SIGBUS.
    @Test func aShortWALFileIsRefusedNotMappedPastItsEnd() throws {
        let (dir, ledger, _) = try Self.ledger(seed: 12, batches: 10)
        let options = Self.options
        try ledger.close()
        let storage = POSIXStorage()
        let wal = try #require(try WALReader(storage: storage, layout: DataDirectoryLayout(root: dir)).walFiles().last)
        let file = try storage.openFile(wal.path, create: false)
        try file.truncate(toSize: try file.size() / 2)
        file.close()
        #expect {
            try Ledger.open(at: dir, options: options)
        } throws: { error in
            (error as? LedgerError)?.code == .corruption
        }
    }

    /// Asked for more bytes than the file has, the mapped read falls back to
    /// reading and says the file is short (a mapping past the end would
    /// fault with SIGBUS).
    @Test func contentsPastTheEndAreNeverMapped() throws {
        let dir = temporaryDirectory()
        let storage = POSIXStorage()
        try storage.makeDirectory(dir)
        let file = try storage.openFile(dir + "/short", create: true)
        defer { file.close() }
        try file.write([UInt8](repeating: 7, count: 100), at: 0)
        #expect(try file.withContents(100, mapped: true) { Array($0) } == [UInt8](repeating: 7, count: 100))
        #expect {
            try file.withContents(8192, mapped: true) { $0.count }
        } throws: { error in
            (error as? LedgerError)?.message.contains("file ends after 100 bytes") ?? false
        }
    }
}
