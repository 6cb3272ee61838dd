import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// `verify` checks months at once, each from its predecessor's seal: on a
/// healthy directory and on each damage shape its findings are the serial
/// check's, and where the months meet the log is checked by the merge.
@Suite struct VerifyParallelTests {
    static var root: String { SealVerifyTests.root }
    static var layout: DataDirectoryLayout { SealVerifyTests.layout }

    /// What a report says about the segments, in a comparable form.
    static func findings(_ report: VerifyReport) -> [String] {
        ["files \(report.segmentFiles) records \(report.segmentRecords)", "\(report.sealedMonths)", "\(report.monthForms)"]
            + report.problems.map(\.description).sorted()
    }

    static func expectSameFindings(_ disk: SimulatedDisk, _ context: String) throws {
        let serial = try Verifier.verify(at: root, storage: disk, monthsInParallel: 1)
        for threads in [2, Limits.verifyMonthsInParallelMax] {
            let parallel = try Verifier.verify(at: root, storage: disk, monthsInParallel: threads)
            #expect(Self.findings(parallel) == Self.findings(serial), "\(context), \(threads) threads")
        }
    }

    @Test func aHealthyDirectoryVerifiesTheSameOnOneThreadOrSeveral() throws {
        let (disk, months, _) = try SealVerifyTests.closedDirectory()
        #expect(months.count >= 3)
        let report = try Verifier.verify(at: Self.root, storage: disk, monthsInParallel: 2)
        #expect(report.passed, "\(report.problems)")
        #expect(report.segmentRecords > 0 && report.sealedMonths.count == months.count - 1)
        try Self.expectSameFindings(disk, "healthy")
    }

    @Test func eachDamageShapeIsFoundTheSameOnOneThreadOrSeveral() throws {
        typealias Damage = (String, (SimulatedDisk, [UTCMonth]) throws -> Void)
        let damages: [Damage] = [
            ("flipped record byte in month 1", { disk, months in disk.corrupt(Self.layout.segmentPath(months[1]), at: SegmentFormat.fileHeaderBytes + 40) }),
            (
                "flipped seal of month 0",
                { disk, months in
                    let path = Self.layout.segmentPath(months[0])
                    disk.corrupt(path, at: try SegmentReader.scan(storage: disk, path: path).sealOffset! + 60)
                }
            ),
            (
                "month 1 removed",
                { disk, months in
                    try disk.removeFile(Self.layout.segmentPath(months[1]))
                    try disk.removeFile(Self.layout.segmentIndexPath(months[1]))
                }
            ),
            ("open month removed", { disk, months in try disk.removeFile(Self.layout.segmentPath(months.last!)) }),
            ("month 1's index damaged", { disk, months in disk.corrupt(Self.layout.segmentIndexPath(months[1]), at: MonthIndexFormat.headerBytes + 8) }),
        ]
        for (name, damage) in damages {
            let (disk, months, _) = try SealVerifyTests.closedDirectory()
            try damage(disk, months)
            let serial = try Verifier.verify(at: Self.root, storage: disk, monthsInParallel: 1)
            #expect(!serial.problems.isEmpty, "\(name): the damage is found")
            try Self.expectSameFindings(disk, name)
        }
    }

    /// Random damage anywhere in the segments, the month indexes or the WAL:
    /// the parallel check finds what the serial one finds (and neither traps).
    @Test(arguments: testSeeds(12)) func randomDamageIsFoundTheSameOnOneThreadOrSeveral(seed: UInt64) throws {
        let (disk, _, _) = try SealVerifyTests.closedDirectory()
        var rng = SeededRandom(seed: seed)
        let files =
            try disk.listDirectory(Self.layout.segmentsDirectory).map { Self.layout.segmentsDirectory + "/" + $0 }
            + (try disk.listDirectory(Self.root).filter { $0.hasPrefix("wal-") }.map { Self.root + "/" + $0 })
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let path = files[Int.random(in: 0..<files.count, using: &rng)]
            disk.corrupt(path, at: Int.random(in: 0..<disk.bytes(path).count, using: &rng))
        }
        try Self.expectSameFindings(disk, "seed \(seed)")
    }

    /// A seal with a valid checksum that differs from its month is an error;
    /// the months after it are checked again from what it sums to, so its
    /// false balances are not blamed on them.
    @Test func aFalseSealIsFoundTheSameOnOneThreadOrSeveral() throws {
        for damaged in 0..<2 {
            let (disk, months, _) = try SealVerifyTests.closedDirectory()
            let path = Self.layout.segmentPath(months[damaged])
            let scan = try SegmentReader.scan(storage: disk, path: path)
            var seal = try #require(scan.seal)
            seal.accounts[0].balances.creditsPosted += 1  // invent one minor unit
            try SealVerifyTests.overwrite(disk, path, at: scan.sealOffset!, with: seal.encoded(seed: scan.header.recordSeed))
            let serial = try Verifier.verify(at: Self.root, storage: disk, monthsInParallel: 1).problems
            #expect(serial.filter { $0.severity == .error }.map(\.kind) == ["seal differs from the month"], "\(serial)")
            try Self.expectSameFindings(disk, "false seal of month \(damaged)")
        }
    }

    /// The merge alone knows where the months before a month left the log:
    /// a month that starts anywhere else differs from the log at its first
    /// record, named as the serial check names it.
    @Test func aMonthThatDoesNotStartWhereTheLogContinuesDiffersFromTheLog() throws {
        let feed = AppliedFeed(startLSNAtLeast: 0)
        feed.publish((0..<10).map { AppliedEvent(timestamp: 100 + UInt64($0), lsn: 1, fingerprint: UInt64($0)) })
        feed.finish(logClosedCleanly: true)
        func month(start: Int, matched: Int, timestamp: UInt64) -> Result<Verifier.MonthOutcome, Error>? {
            var outcome = Verifier.MonthOutcome()
            outcome.goOn = true
            outcome.log = LogComparison(first: .init(lsn: 1, timestamp: timestamp, offset: 4096, path: "m\(start)"), start: start, matched: matched)
            return .success(outcome)
        }
        var report = VerifyReport()
        let contiguous = try Verifier.merge(
            [month(start: 0, matched: 4, timestamp: 100), month(start: 4, matched: 6, timestamp: 104)], feed: feed, layout: Self.layout, report: &report)
        #expect(contiguous != nil && report.problems.isEmpty, "\(report.problems)")
        report = VerifyReport()
        let gap = try Verifier.merge(
            [month(start: 0, matched: 4, timestamp: 100), month(start: 5, matched: 5, timestamp: 105)], feed: feed, layout: Self.layout, report: &report)
        #expect(gap == nil)
        #expect(
            report.problems.map(\.description) == [
                "error: m5 offset 4096: segment differs from the log: record (LSN 1, timestamp 105) is not the log's applied event #4"
            ])
    }

    @Test func theFeedIsSoughtByTimestamp() {
        let feed = AppliedFeed(startLSNAtLeast: 0)
        feed.publish((0..<3).map { AppliedEvent(timestamp: 10 + 2 * UInt64($0), lsn: 1, fingerprint: 0) })  // 10 12 14
        feed.publish((0..<2).map { AppliedEvent(timestamp: 20 + UInt64($0), lsn: 2, fingerprint: 0) })  // 20 21
        feed.finish(logClosedCleanly: true)
        #expect([0, 10, 11, 14, 15, 20, 21, 22].map { feed.firstPosition(atOrAfter: $0) } == [0, 0, 1, 2, 3, 3, 4, 5])
        var reader = AppliedFeed.Reader(feed, from: 2)
        #expect([reader.next()?.timestamp, reader.next()?.timestamp, reader.next()?.timestamp, reader.next()?.timestamp] == [14, 20, 21, nil])
        var past = AppliedFeed.Reader(feed, from: 5)
        #expect(past.next() == nil)
    }

    /// The segment half starts before the replay has chosen its start: a
    /// record above the WAL's first LSN waits for it; a feed ended without
    /// one compares nothing.
    @Test func theReplayStartIsAwaitedOnlyAboveTheWALsFirstRecord() throws {
        let feed = AppliedFeed(startLSNAtLeast: 41)
        let asked = Guarded<UInt64?>(nil)
        let thread = Thread {
            let lsn = feed.startAfterLSN()
            asked.withLock { $0 = lsn }
        }
        thread.start()
        usleep(50_000)
        #expect(asked.withLock { $0 } == nil, "answered before the start was chosen")
        feed.setStart(afterLSN: 57)
        thread.join()
        #expect(asked.withLock { $0 } == 57)
        let ended = AppliedFeed(startLSNAtLeast: 41)
        ended.cancel()
        #expect(ended.startAfterLSN() == .max && ended.isCancelled)
    }

    /// A month index is compared with its rebuilt bytes chunk by chunk; the
    /// first differing offset is named, or where the shorter one ends.
    @Test func theStoredIndexIsComparedInChunks() throws {
        let disk = SimulatedDisk(seed: 3)
        var rng = SeededRandom(seed: 5)
        let expected = (0..<(5 << 19)).map { _ in UInt8.random(in: 0...255, using: &rng) }  // 2.5 MiB
        func difference(_ stored: [UInt8]) throws -> Int? {
            let file = try disk.openFile("/sim/index", create: true)
            try file.truncate(toSize: 0)
            try file.write(stored, at: 0)
            defer { file.close() }
            return try SegmentCheck.firstDifference(file, expected)
        }
        var altered = expected
        altered[(3 << 19) + 3] &+= 1
        #expect(try difference(expected) == nil)
        #expect(try difference(altered) == (3 << 19) + 3)
        #expect(try difference(Array(expected[..<(1 << 20)])) == 1 << 20)
        #expect(try difference(expected + [0]) == expected.count)
    }
}
