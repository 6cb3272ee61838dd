import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Indexed history, balance-as-of and lookup agree with the full-scan oracle
/// (`SegmentHistory`) and with what the engine said at the time, on the open
/// month and on sealed months, after reopening, and after an index is lost.
@Suite struct SegmentQueryTests {
    static let root = "/sim/queries"

    static func options(_ clock: TestClock, log: @escaping @Sendable (String) -> Void = { _ in }) -> Ledger.Options {
        var options = Ledger.Options()
        options.walFileBytes = 256 * 1024
        options.indexCheckpointGroups = 7
        options.clock = { clock.read() }
        options.log = log
        return options
    }

    /// A ledger with about four months of history (Sep–Dec 2026), still open.
    static func fourMonths(seed: UInt64, disk: SimulatedDisk, windowMonths: Int = 1) throws -> (Ledger, TestClock, MultiMonthWorkload) {
        let clock = TestClock(UTCMonth(year: 2026, month: 9).startNs + 20 * 86_400 * 1_000_000_000)
        var creation = options(clock)
        creation.residentWindowMonths = windowMonths
        try Ledger.initialize(at: root, storage: disk, options: creation)
        let ledger = try Ledger.open(at: root, storage: disk, options: options(clock))
        var workload = MultiMonthWorkload(seed: seed)
        try workload.createAccounts(ledger)
        // 240 batches, 12 h apart at most: ~60 days on average, into December.
        try workload.run(ledger, clock: clock, batches: 240, stepNsMax: 43_200 * 1_000_000_000)
        return (ledger, clock, workload)
    }

    /// Every query answered through the indexes equals the oracle's answer.
    static func expectQueriesMatchOracle(_ ledger: Ledger, _ disk: SimulatedDisk, _ workload: MultiMonthWorkload, _ context: String) throws {
        var rng = SeededRandom(seed: 99)
        for account in 1...UInt128(workload.accountCount) {
            let items = try ledger.history(account: account, limit: 100_000).items
            // Paging with a small limit returns the same items.
            #expect(try paged(ledger, account, limit: 7) == items, "\(context): paging account \(account)")
            if items.count > 6 {
                let a = Int.random(in: 0..<(items.count - 3), using: &rng)
                let b = Int.random(in: a..<items.count, using: &rng)
                let window = try ledger.history(account: account, fromNs: items[a].timestamp, toNs: items[b].timestamp, limit: 100_000).items
                #expect(window == Array(items[a...b]), "\(context): window of account \(account)")
            }
            #expect(items.last?.balances == AccountBalances(try ledger.account(id: account)!), "\(context): account \(account) ends at its balance")
        }
        for sample in workload.samples {
            #expect(
                try ledger.balance(account: sample.account, asOfNs: sample.timeNs) == sample.balances,
                "\(context): balance of \(sample.account) as of \(sample.timeNs)")
        }
        #expect(try ledger.balance(account: 1, asOfNs: 0) == AccountBalances())
        for id in workload.appliedEntryIDs.shuffled(using: &rng).prefix(200) {
            let found = try ledger.lookup(entryID: id)
            #expect(found?.entry.id == id, "\(context): lookup of \(id)")
            #expect(found.map { $0.position.month == UTCMonth(containing: $0.timestamp) } ?? false)
        }
        #expect(try ledger.lookup(entryID: 999_999_999) == nil)
    }

    /// Every item of the account's history, read `limit` at a time.
    static func paged(_ ledger: Ledger, _ account: UInt128, limit: Int) throws -> [HistoryItem] {
        var items: [HistoryItem] = []
        var cursor: UInt64?
        repeat {
            let page = try ledger.history(account: account, afterNs: cursor, limit: limit)
            items += page.items
            cursor = page.nextCursor
        } while cursor != nil
        return items
    }

    /// The oracle's answers, computed from a closed directory.
    static func oracleHistories(_ disk: SimulatedDisk, accounts: Int) throws -> [[HistoryItem]] {
        try (1...accounts).map { try SegmentHistory.history(storage: disk, at: root, account: UInt128($0), limit: .max) }
    }

    @Test(arguments: testSeeds(4))
    func indexedQueriesMatchTheOracleOnOpenAndSealedMonths(seed: UInt64) throws {
        let disk = SimulatedDisk(seed: seed)
        var (ledger, clock, workload) = try Self.fourMonths(seed: seed, disk: disk)
        try Self.expectQueriesMatchOracle(ledger, disk, workload, "seed \(seed), open")
        let indexed = try (1...workload.accountCount).map { try ledger.history(account: UInt128($0), limit: 100_000).items }
        try ledger.close()
        let oracle = try Self.oracleHistories(disk, accounts: workload.accountCount)
        #expect(indexed == oracle, "seed \(seed): indexed history differs from the full scan")
        #expect(oracle.contains { $0.contains { $0.kind == .expireHold } }, "seed \(seed): no hold expired")

        // Months are sealed and chained; reopening restores from the seals.
        let months = try SegmentFiler.months(storage: disk, layout: DataDirectoryLayout(root: Self.root))
        #expect(months.count >= 3, "seed \(seed): only \(months)")
        var previous: (UTCMonth, [UInt8])?
        for month in months.dropLast() {
            let seal = try #require(
                try SegmentReader.readSeal(
                    storage: disk, path: DataDirectoryLayout(root: Self.root).segmentPath(month), expectedDirectoryID: ledger.meta.directoryID))
            #expect(seal.previousMonth == previous?.0 && seal.previousRoot == (previous?.1 ?? SegmentFiler.zeroRoot))
            #expect(seal.totals.allSatisfy { $0.debitsPosted == $0.creditsPosted })
            previous = (month, seal.monthRoot)
        }
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        try Self.expectQueriesMatchOracle(ledger, disk, workload, "seed \(seed), reopened")
        // More activity after reopening, then compare again.
        try workload.run(ledger, clock: clock, batches: 40, stepNsMax: 43_200 * 1_000_000_000)
        try Self.expectQueriesMatchOracle(ledger, disk, workload, "seed \(seed), reopened and extended")
        try ledger.close()
    }

    @Test func lostOrDamagedIndexIsRebuiltFromTheSegment() throws {
        let disk = SimulatedDisk(seed: 5)
        let (ledger, clock, workload) = try Self.fourMonths(seed: 5, disk: disk)
        try ledger.close()
        let layout = DataDirectoryLayout(root: Self.root)
        let months = try SegmentFiler.months(storage: disk, layout: layout)
        let lost = layout.segmentIndexPath(months[0])
        let damaged = layout.segmentIndexPath(months[1])
        let before = disk.bytes(damaged)
        try disk.removeFile(lost)
        disk.corrupt(damaged, at: 100)  // the header is checked at open; body blocks when read (next test)
        let lines = LogLines()
        let reopened = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock, log: { lines.append($0) }))
        #expect(lines.all.contains { $0.contains("index of \(months[0]) is missing") }, "\(lines.all)")
        #expect(lines.all.contains { $0.contains("index of \(months[1]) is unusable") }, "\(lines.all)")
        let rebuiltIsIdentical = disk.bytes(damaged) == before
        #expect(rebuiltIsIdentical, "the rebuilt index is byte for byte the original")
        try Self.expectQueriesMatchOracle(reopened, disk, workload, "rebuilt")
        try reopened.close()
    }

    @Test func damagedIndexBlockIsNamedByAQuery() throws {
        let disk = SimulatedDisk(seed: 6)
        let (ledger, _, _) = try Self.fourMonths(seed: 6, disk: disk)
        let layout = DataDirectoryLayout(root: Self.root)
        let month = try SegmentFiler.months(storage: disk, layout: layout)[0]
        // Damage the account table after the engine checked the index at open.
        disk.corrupt(layout.segmentIndexPath(month), at: MonthIndexFormat.headerBytes + 20)
        #expect {
            _ = try ledger.history(account: 1, fromNs: month.startNs, toNs: month.next.startNs - 1, limit: 10)
        } throws: { error in
            let e = error as? LedgerError
            return e?.code == .corruption && e?.path == layout.segmentIndexPath(month) && e?.offset == MonthIndexFormat.headerBytes
        }
        try ledger.close()
    }
}
