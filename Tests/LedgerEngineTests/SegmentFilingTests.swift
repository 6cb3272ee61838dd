import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The engine files every applied event into its month's segment, and after
/// any crash the segments again equal the applied events of the WAL.
@Suite struct SegmentFilingTests {
    static let root = "/sim/filing"

    final class Clock: @unchecked Sendable {
        let lock = NSLock()
        var nowNs: UInt64
        init(_ start: UInt64) { nowNs = start }
        func read() -> UInt64 {
            lock.lock()
            defer { lock.unlock() }
            return nowNs
        }
        func advance(_ ns: UInt64) {
            lock.lock()
            nowNs += ns
            lock.unlock()
        }
    }

    static func options(_ clock: Clock, pipelined: Bool = false) -> Ledger.Options {
        var options = Ledger.Options()
        options.walFileBytes = 64 * 1024
        options.indexCheckpointGroups = 5
        options.clock = { clock.read() }
        if pipelined { options.inlineGroupPayloadBytesMax = 0 }
        return options
    }

    /// (timestamp, event bytes) of every applied event, from the WAL.
    static func appliedEventsInWAL(_ storage: any Storage) throws -> [(UInt64, [UInt8])] {
        var events: [(UInt64, [UInt8])] = []
        _ = try WALReader(storage: storage, layout: DataDirectoryLayout(root: root)).scan(mode: .recover) { record in
            guard record.header.type == WALFormat.recordTypeGroup else { return }
            try WALGroupPayload.forEachBatch(record.payload) { batch in
                var index = 0
                EventBatchReader.forEach(batch.events, eventCount: batch.eventCount) { offset, size in
                    if batch.results[index] == ResultCode.ok.rawValue {
                        events.append((batch.timestamp + UInt64(index), Array(batch.events[offset..<(offset + size)])))
                    }
                    index += 1
                }
            }
        }
        return events
    }

    /// (timestamp, event bytes) of every record in every segment, by month.
    static func eventsInSegments(_ storage: any Storage) throws -> (months: [String], events: [(UInt64, [UInt8])]) {
        let layout = DataDirectoryLayout(root: root)
        let names = try storage.listDirectory(layout.segmentsDirectory).filter { $0.hasSuffix(".seg") }
        var events: [(UInt64, [UInt8])] = []
        for name in names {
            _ = try SegmentReader.scan(storage: storage, path: layout.segmentsDirectory + "/" + name) { record in
                events.append((record.header.timestamp, Array(record.event)))
            }
        }
        return (names, events)
    }

    static func expectSegmentsMatchWAL(_ storage: any Storage, _ context: String) throws {
        let wal = try appliedEventsInWAL(storage)
        let filed = try eventsInSegments(storage).events
        #expect(filed.count == wal.count, "\(context): \(filed.count) filed, \(wal.count) applied")
        #expect(filed.map(\.0) == wal.map(\.0), "\(context): timestamps differ")
        #expect(filed.map(\.1) == wal.map(\.1), "\(context): event bytes differ")
    }

    @Test func appliedEventsAreFiledByUTCMonthAndRejectedOnesAreNot() throws {
        let disk = SimulatedDisk(seed: 1)
        let november = UTCMonth(year: 2026, month: 11)
        let clock = Clock(november.next.startNs - 3_000_000_000)  // 3 s before December
        try Ledger.initialize(at: Self.root, storage: disk, options: Self.options(clock))
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        #expect(try ledger.submitAndWait(EventBatch([usd(1), usd(2, flags: .debitsMustNotExceedCredits)])) == [.ok, .ok])
        #expect(try ledger.submitAndWait(EventBatch([transfer(10, from: 1, to: 2, 50), transfer(11, from: 2, to: 1, 500)])) == [.ok, .exceedsCredits])
        clock.advance(5_000_000_000)  // now in December
        #expect(try ledger.submitAndWait(EventBatch([transfer(12, from: 2, to: 1, 20), transfer(10, from: 1, to: 2, 50)])) == [.ok, .exists])
        try ledger.close()

        let (months, events) = try Self.eventsInSegments(disk)
        #expect(months == ["2026-11.seg", "2026-12.seg"])
        let ids = events.map { EventBatchReader.decodeID($0.1) }
        #expect(ids == [1, 2, 10, 12])
        #expect(november.contains(events[2].0) && november.next.contains(events[3].0))
        try Self.expectSegmentsMatchWAL(disk, "clean close")
    }

    /// A hold that times out is released by an engine-generated event that
    /// reaches the log, the segments and a replay.
    @Test func holdExpiryIsAnEventInTheLogAndTheSegments() throws {
        let disk = SimulatedDisk(seed: 3)
        let clock = Clock(UTCMonth(year: 2026, month: 11).startNs + 1_000_000_000)
        try Ledger.initialize(at: Self.root, storage: disk, options: Self.options(clock))
        var ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        _ = try ledger.submitAndWait(EventBatch([usd(1), usd(2, flags: .debitsMustNotExceedCredits)]))
        #expect(
            try ledger.submitAndWait(EventBatch([transfer(10, from: 1, to: 2, 100), transfer(20, from: 2, to: 1, 60, kind: .pending, timeout: 30)])) == [
                .ok, .ok,
            ])
        #expect(try ledger.account(id: 2)!.debitsPending == 60)
        clock.advance(31_000_000_000)
        // The next client batch is preceded by the expiry; funds are free again.
        #expect(try ledger.submitAndWait(EventBatch([transfer(21, from: 2, to: 1, 100)])) == [.ok])
        #expect(try ledger.account(id: 2)!.debitsPending == 0)
        #expect(try ledger.entry(id: 20)!.holdState == .expired)
        try ledger.close()
        let filed = try Self.eventsInSegments(disk).events.map { $0.1.withUnsafeBytes { EventBatchReader.decode($0, at: 0) } }
        #expect(filed.contains(.expireHold(20)))
        let expiryIndex = filed.firstIndex(of: .expireHold(20))!
        #expect(expiryIndex + 1 < filed.count && filed[expiryIndex + 1] == transfer(21, from: 2, to: 1, 100))
        // Replay reproduces it without the clock.
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(Clock(1)))
        #expect(try ledger.entry(id: 20)!.holdState == .expired)
        try ledger.close()
        #expect(try Verifier.verify(at: Self.root, storage: disk).passed)
    }

    @Test func strayTemporaryFilesAreDeletedAtOpen() throws {
        let disk = SimulatedDisk(seed: 2)
        let clock = Clock(UTCMonth(year: 2026, month: 11).startNs + 1)
        try Ledger.initialize(at: Self.root, storage: disk, options: Self.options(clock))
        let layout = DataDirectoryLayout(root: Self.root)
        try disk.makeDirectory(layout.segmentsDirectory)
        for path in [layout.segmentsDirectory + "/2026-10.seg.tmp", layout.root + "/balances.index.tmp"] {
            let file = try disk.openFile(path, create: true)
            try file.write([1, 2, 3], at: 0)
        }
        try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock)).close()
        #expect(!disk.names().contains { $0.hasSuffix(".tmp") })
    }

    @Test(arguments: testSeeds(16), [false, true])
    func crashAnywhereThenRecoveryRefilesSegmentsFromTheWAL(seed: UInt64, pipelined: Bool) throws {
        let disk = SimulatedDisk(seed: seed)
        var rng = SeededRandom(seed: seed)
        // Start 2 s before a month ends and move 0-200 ms per batch, so many
        // runs cross the boundary.
        let clock = Clock(UTCMonth(year: 2026, month: 11).next.startNs - 2_000_000_000)
        try Ledger.initialize(at: Self.root, storage: disk, options: Self.options(clock, pipelined: pipelined))
        var ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock, pipelined: pipelined))
        _ = try ledger.submitAndWait(EventBatch((1...10).map { usd(UInt128($0)) }))
        disk.crashAtOperation = disk.operations + Int.random(in: 1...400, using: &rng)
        var acked: [UInt128] = []
        var id: UInt128 = 1_000
        for _ in 0..<300 {
            clock.advance(UInt64.random(in: 0...200_000_000, using: &rng))
            let events = (0..<Int.random(in: 1...5, using: &rng)).map { _ -> Event in
                id += 1
                // Account 11 is missing half the time; a third are holds that
                // time out after 1 s, so expiry batches cross crashes too.
                let pending = Int.random(in: 0..<3, using: &rng) == 0
                return transfer(
                    id, from: UInt128(Int.random(in: 1...10, using: &rng)), to: pending ? 3 : 11, 1, kind: pending ? .pending : .posted,
                    timeout: pending ? 1 : 0)
            }
            guard let results = try? ledger.submitAndWait(EventBatch(events)) else { break }
            for (event, result) in zip(events, results) where result == .ok { acked.append(event.entryID) }
            if Int.random(in: 0..<7, using: &rng) == 0 {
                _ = try? ledger.submitAndWait(EventBatch([usd(UInt128(11))]))
            }
        }
        if disk.crashAtOperation != nil { disk.crash() }
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock, pipelined: pipelined))
        // Let every remaining hold come due and expire through the engine.
        clock.advance(2_000_000_000)
        _ = try ledger.submitAndWait(EventBatch([usd(UInt128(12))]))
        #expect(try ledger.read { $0.openHoldCount } == 0, "seed \(seed): holds left open after their timeout")
        try ledger.close()
        #expect(try Verifier.verify(at: Self.root, storage: disk).passed, "seed \(seed)")
        try Self.expectSegmentsMatchWAL(disk, "seed \(seed) pipelined \(pipelined)")
        let filedIDs = Set(try Self.eventsInSegments(disk).events.map { EventBatchReader.decodeID($0.1) })
        #expect(acked.allSatisfy { filedIDs.contains($0) }, "seed \(seed): an acknowledged entry is missing from the segments")
    }
}

@Suite struct SegmentVerifyTests {
    static let root = SegmentFilingTests.root

    /// A closed ledger with 40 entries in November's segment.
    static func closedLedger() throws -> (SimulatedDisk, String, [Int]) {
        let disk = SimulatedDisk(seed: 5)
        let clock = SegmentFilingTests.Clock(UTCMonth(year: 2026, month: 11).startNs + 1_000_000_000)
        let options = SegmentFilingTests.options(clock)
        try Ledger.initialize(at: root, storage: disk, options: options)
        let ledger = try Ledger.open(at: root, storage: disk, options: options)
        _ = try ledger.submitAndWait(EventBatch([usd(1), usd(2)]))
        for i in 0..<40 { _ = try ledger.submitAndWait(EventBatch([transfer(UInt128(100 + i), from: 1, to: 2, 7)])) }
        try ledger.close()
        let path = DataDirectoryLayout(root: root).segmentPath(UTCMonth(year: 2026, month: 11))
        var offsets: [Int] = []
        _ = try SegmentReader.scan(storage: disk, path: path) { offsets.append($0.offset) }
        #expect(try Verifier.verify(at: root, storage: disk).passed)
        return (disk, path, offsets)
    }

    @Test func flippedByteInASegmentIsNamedByVerify() throws {
        let (disk, path, offsets) = try Self.closedLedger()
        disk.corrupt(path, at: offsets[10] + 40)
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(!report.passed)
        #expect(report.problems.contains { $0.kind == "segment corruption" && $0.file == path && $0.offset == offsets[10] })
    }

    @Test func wellFormedButAlteredSegmentRecordDiffersFromTheLog() throws {
        let (disk, path, offsets) = try Self.closedLedger()
        // Re-encode record 20 with a different amount and a valid CRC.
        let original = Array(disk.bytes(path)[offsets[20]..<offsets[21]])
        var event = Array(original[SegmentFormat.recordHeaderBytes...])
        event[64 + 16] &+= 1  // first posting's amount
        event[64 + 40 + 16] &+= 1  // second posting's amount: still balanced
        let header = SegmentFileHeader(month: UTCMonth(year: 2026, month: 11), directoryID: try disk.directoryID(Self.root))
        let lsn = original.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) }
        let timestamp = original.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self) }
        var forged = [UInt8](repeating: 0, count: original.count)
        event.withUnsafeBytes { e in
            forged.withUnsafeMutableBytes { _ = SegmentRecordHeader.encode(event: e, lsn: lsn, timestamp: timestamp, seed: header.recordSeed, into: $0) }
        }
        let file = try disk.openFile(path, create: false)
        try file.write(forged, at: offsets[20])
        try file.sync()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.problems.contains { $0.kind == "segment differs from the log" && $0.offset == offsets[20] && $0.severity == .error })
    }

    @Test func missingSegmentAfterACleanCloseIsAnError() throws {
        let (disk, path, _) = try Self.closedLedger()
        try disk.removeFile(path)
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.problems.contains { $0.kind == "segments behind the log" && $0.severity == .error })
        // Opening re-files the month from the WAL.
        let clock = SegmentFilingTests.Clock(UTCMonth(year: 2026, month: 11).startNs + 999_000_000_000)
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: SegmentFilingTests.options(clock))
        #expect(ledger.recovery.eventsRefiled == 42)
        try ledger.close()
        #expect(try Verifier.verify(at: Self.root, storage: disk).passed)
    }
}

extension SimulatedDisk {
    /// The directory id from `ledger.meta` (bytes 16-31).
    func directoryID(_ root: String) throws -> [UInt8] {
        Array(bytes(DataDirectoryLayout(root: root).metaPath)[16..<32])
    }
}

extension Event {
    var entryID: UInt128 {
        if case .createEntry(let entry) = self { return entry.id }
        return 0
    }
}

extension EventBatchReader {
    /// The id of an encoded event (account or entry): bytes 16-31 in every kind.
    static func decodeID(_ event: [UInt8]) -> UInt128 {
        event.withUnsafeBytes { _LE.u128($0, 16) }
    }
}
