import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Snapshots bound recovery and the WAL: recovery replays only the tail
/// after the newest usable snapshot, compaction deletes covered WAL files,
/// and damaged snapshots are detected and skipped (or refused) by name.
@Suite struct SnapshotTests {
    static let root = "/sim/snapshots"

    static func options(_ clock: TestClock, lines: LogLines = LogLines(), intervalBytes: Int? = 0) -> Ledger.Options {
        var options = Ledger.Options()
        options.walFileBytes = 64 * 1024
        options.indexCheckpointGroups = 5
        options.snapshotIntervalWALBytes = intervalBytes
        options.clock = { clock.read() }
        options.log = { lines.append($0) }
        return options
    }

    /// A fresh directory at October 2026, opened, with the workload's accounts.
    static func started(seed: UInt64, intervalBytes: Int? = 0) throws -> (SimulatedDisk, TestClock, Ledger, MultiMonthWorkload) {
        let disk = SimulatedDisk(seed: seed)
        let clock = TestClock(UTCMonth(year: 2026, month: 10).startNs)
        let options = Self.options(clock, intervalBytes: intervalBytes)
        try Ledger.initialize(at: root, storage: disk, options: options)
        let ledger = try Ledger.open(at: root, storage: disk, options: options)
        let workload = MultiMonthWorkload(seed: seed)
        try workload.createAccounts(ledger)
        return (disk, clock, ledger, workload)
    }

    static func walFileCount(_ disk: SimulatedDisk) -> Int { disk.names().filter { $0.hasSuffix(".log") }.count }

    static func balances(_ ledger: Ledger, _ count: Int) throws -> [Account?] {
        try (1...count).map { try ledger.account(id: UInt128($0)) }
    }

    @Test func recoveryStartsFromTheSnapshotAndReplaysOnlyTheTail() throws {
        var (disk, clock, ledger, workload) = try Self.started(seed: 1)
        try workload.run(ledger, clock: clock, batches: 150, stepNsMax: 20_000 * 1_000_000_000)
        let first = try ledger.snapshot()
        try workload.run(ledger, clock: clock, batches: 30, stepNsMax: 20_000 * 1_000_000_000)
        let second = try ledger.snapshot()
        #expect(second.lsn > first.lsn && second.walFilesDeleted > 0, "compaction deleted no WAL file")
        try workload.run(ledger, clock: clock, batches: 20, stepNsMax: 20_000 * 1_000_000_000)
        let before = try Self.balances(ledger, workload.accountCount)
        let entriesBefore = try ledger.read { $0.entryCount }
        try ledger.close()
        #expect(try SnapshotStore.list(storage: disk, layout: DataDirectoryLayout(root: Self.root)).map(\.lsn) == [first.lsn, second.lsn])

        let lines = LogLines()
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock, lines: lines))
        #expect(ledger.recovery.snapshotLSN == second.lsn)
        #expect(try Self.balances(ledger, workload.accountCount) == before)
        #expect(try ledger.read { $0.entryCount } == entriesBefore)
        // Idempotency survives: every applied id is still known.
        let retried = try ledger.submitAndWait(EventBatch([transfer(workload.appliedEntryIDs[3], from: 1, to: 2, 1)]))
        #expect(retried[0] == .exists || retried[0] == .existsWithDifferentFields)
        // The log says where the restart's time went.
        let recoveryLine =
            "recovery: snapshot loaded in \(Ledger.seconds(ledger.recovery.snapshotLoadNs)) s, \(ledger.recovery.recordsReplayed) WAL records replayed in"
        #expect(lines.all.contains { $0.hasPrefix(recoveryLine) && $0.contains("the open month's segment scanned and indexed in") }, "\(lines.all)")
        #expect(ledger.recovery.recordsReplayed > 0 && ledger.recovery.snapshotLoadNs > 0 && ledger.recovery.openMonthIndexedNs > 0)
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        #expect(report.replayStartLSN == first.lsn && report.snapshotFiles == 2)
    }

    @Test func secondsInLogLines() {
        #expect(Ledger.seconds(0) == "0.00")
        #expect(Ledger.seconds(4_999_999) == "0.00")
        #expect(Ledger.seconds(5_000_000) == "0.01")
        #expect(Ledger.seconds(1_234_567_890) == "1.23")
        #expect(Ledger.seconds(995_000_000) == "1.00")
        #expect(Ledger.seconds(61_070_000_000) == "61.07")
    }

    @Test func automaticSnapshotsKeepTheWALBounded() throws {
        var (disk, clock, ledger, workload) = try Self.started(seed: 2, intervalBytes: 128 * 1024)
        let options = Self.options(clock, intervalBytes: 128 * 1024)
        var walFilesMax = 0
        for _ in 0..<10 {
            try workload.run(ledger, clock: clock, batches: 100, stepNsMax: 20_000 * 1_000_000_000)
            walFilesMax = max(walFilesMax, disk.names().filter { $0.hasSuffix(".log") }.count)
        }
        try ledger.close()
        // Bound: two snapshot intervals (the older retained snapshot is the
        // compaction point) plus the file being written and the next one.
        #expect(walFilesMax <= 2 * 2 + 2 + 1, "WAL grew to \(walFilesMax) files")
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        #expect(report.replayStartLSN > 0)
        let reopened = try Ledger.open(at: Self.root, storage: disk, options: options)
        try SegmentQueryTests.expectQueriesMatchOracle(reopened, disk, workload, "after compaction")
        try reopened.close()
    }

    /// Compaction keeps retired WAL files (at most `walSpareFilesMax`) and
    /// the next WAL file is prepared in one: zeros over the old records
    /// before it gets a name, so a prepared file never holds an earlier
    /// incarnation's bytes; a close deletes the kept files, and the log
    /// recovers and verifies as before.
    @Test func compactedWALFilesAreReusedWithoutTheirOldBytes() throws {
        var (disk, clock, ledger, workload) = try Self.started(seed: 5, intervalBytes: 128 * 1024)
        let layout = DataDirectoryLayout(root: Self.root)
        let spares = { disk.names().filter { DataDirectoryLayout.isWALSpare(String($0.split(separator: "/").last!)) } }
        var preparedChecked = 0
        for _ in 0..<10 {
            try workload.run(ledger, clock: clock, batches: 100, stepNsMax: 20_000 * 1_000_000_000)
            #expect(spares().count <= Limits.walSpareFilesMax, "\(spares())")
            try ledger.wal.finishPreparing()
            if disk.fileExists(layout.walNextTemporaryPath) {
                let bytes = disk.bytes(layout.walNextTemporaryPath)
                #expect(bytes.count == 64 * 1024 && bytes.allSatisfy { $0 == 0 }, "a prepared WAL file holds old bytes")
                preparedChecked += 1
            }
        }
        #expect(ledger.walFilesReused > 0 && preparedChecked > 0, "reused \(ledger.walFilesReused), checked \(preparedChecked)")
        let before = try Self.balances(ledger, workload.accountCount)
        try ledger.close()
        #expect(spares().isEmpty, "a closed directory keeps \(spares())")
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        #expect(try Self.balances(ledger, workload.accountCount) == before)
        try ledger.close()
    }

    /// Pruning keeps the newest pruned snapshot and the next snapshot is
    /// written in it, cut to its own size (snapshots shrink when a month is
    /// evicted, so some are written in a larger file): every snapshot loads
    /// whole, a close deletes the kept one, and a restart from the newest
    /// gives the same balances.
    @Test func prunedSnapshotsAreReusedAndCutToTheirSize() throws {
        var (disk, clock, ledger, workload) = try Self.started(seed: 6)
        let layout = DataDirectoryLayout(root: Self.root)
        var reused = 0
        var shrank = 0
        var sizes: [Int] = []
        for _ in 0..<12 {
            try workload.run(ledger, clock: clock, batches: 40, stepNsMax: 60_000 * 1_000_000_000)
            let spareBefore = disk.fileExists(layout.snapshotSparePath) ? disk.bytes(layout.snapshotSparePath).count : nil
            let result = try ledger.snapshot()
            let size = disk.bytes(result.path).count
            if let spareBefore {
                reused += 1
                if size < spareBefore { shrank += 1 }
            }
            sizes.append(size)
            for (_, path) in try SnapshotStore.list(storage: disk, layout: layout) {
                _ = try SnapshotStore.load(path: path, storage: disk, directoryID: ledger.meta.directoryID)
            }
        }
        #expect(reused >= 8 && shrank > 0, "reused \(reused), written in a larger file \(shrank), sizes \(sizes)")
        let before = try Self.balances(ledger, workload.accountCount)
        try ledger.close()
        #expect(!disk.fileExists(layout.snapshotSparePath), "a closed directory keeps its spare snapshot")
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        #expect(ledger.recovery.snapshotLSN > 0)
        #expect(try Self.balances(ledger, workload.accountCount) == before)
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
    }

    /// Under load, an automatic snapshot captures the state between groups
    /// without waiting for the groups in flight, and is written with the
    /// LSN and chain value of the last group it holds: verify (which
    /// replays the log to each snapshot's LSN and compares) passes, and a
    /// restart from it gives the same balances. To have groups in flight at
    /// a capture, the durability thread is held after a sync while the
    /// snapshot is asked for (`groupCommitted` runs on that thread).
    @Test func snapshotsCapturedWhileGroupsAreInFlightMatchTheLog() throws {
        let disk = SimulatedDisk(seed: 11)
        let clock = TestClock(UTCMonth(year: 2026, month: 10).startNs)
        let lines = LogLines()
        let gate = Gate()
        var options = Self.options(clock, lines: lines, intervalBytes: 0)
        options.inlineGroupPayloadBytesMax = 0  // every group is handed off
        options.groupCommitted = { _ in gate.holdIfArmed() }
        try Ledger.initialize(at: Self.root, storage: disk, options: options)
        var ledger = try Ledger.open(at: Self.root, storage: disk, options: options)
        _ = try ledger.submitAndWait(EventBatch((1...8).map { usd(UInt128($0)) }))
        let running = Guarded(true)
        let submitters = (0..<4).map { t in
            Thread {
                var i: UInt128 = 0
                while running.withLock({ $0 }) {
                    i += 1
                    let base = UInt128(1_000_000 * (t + 1)) + 10 * i
                    clock.advance(1_000)
                    _ = try? ledger.submitAndWait(
                        EventBatch((0..<8).map { transfer(base + UInt128($0), from: UInt128($0 % 8 + 1), to: UInt128(($0 + t + 1) % 8 + 1), 5) }))
                }
            }
        }
        for thread in submitters { thread.start() }
        for _ in 0..<20 where !lines.all.contains(where: { $0.contains("in flight") }) {
            gate.arm()
            gate.awaitHeld()
            let snapshot = Thread { _ = try? ledger.snapshot(syncingSegments: .whenNoBatchWaits) }
            snapshot.start()
            usleep(20_000)  // the capture is queued behind waiting batches
            gate.release()
            snapshot.join()
        }
        running.withLock { $0 = false }
        for thread in submitters { thread.join() }
        let balances = try Self.balances(ledger, 8)
        try ledger.close()
        #expect(lines.all.contains { $0.contains("in flight") }, "no capture had groups in flight: \(lines.all.filter { $0.contains("snapshot") })")
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        ledger = try Ledger.open(at: Self.root, storage: disk, options: options)
        #expect(try Self.balances(ledger, 8) == balances)
        try ledger.close()
    }

    /// Holds the thread that calls `holdIfArmed` once after `arm`, until `release`.
    final class Gate: @unchecked Sendable {
        private let condition = NSCondition()
        private var armed = false
        private var held = false

        func arm() { condition.withLock { armed = true } }

        func holdIfArmed() {
            condition.withLock {
                guard armed else { return }
                armed = false
                held = true
                condition.broadcast()
                while held { condition.wait() }
            }
        }

        func awaitHeld() { condition.withLock { while !held { condition.wait() } } }

        func release() {
            condition.withLock {
                held = false
                condition.broadcast()
            }
        }
    }

    /// Automatic snapshots do not sync the segments (that stalled the apply
    /// thread): compaction then stops at what the segments hold durably, so
    /// losing every unsynced write and every snapshot loses nothing.
    @Test func snapshotsWithoutSegmentSyncCompactOnlyWhatTheSegmentsHoldDurably() throws {
        var (disk, clock, ledger, workload) = try Self.started(seed: 5, intervalBytes: 0)
        var options = Self.options(clock, intervalBytes: 0)
        options.indexCheckpointGroups = 1_000_000  // the open month's segment is never synced by a checkpoint
        try ledger.close()
        ledger = try Ledger.open(at: Self.root, storage: disk, options: options)
        try workload.run(ledger, clock: clock, batches: 600, stepNsMax: 1_000_000_000)
        #expect(Self.walFileCount(disk) > 3)
        try ledger.snapshot(syncingSegments: .never)
        try workload.run(ledger, clock: clock, batches: 2, stepNsMax: 1_000_000_000)  // a newer snapshot, not the same one again
        #expect(try ledger.snapshot(syncingSegments: .never).walFilesDeleted == 0, "WAL deleted that only unsynced segments cover")
        let acked = workload.appliedEntryIDs
        disk.crash(mode: .dropUnsynced)
        for (_, path) in try SnapshotStore.list(storage: disk, layout: DataDirectoryLayout(root: Self.root)) { try disk.removeFile(path) }
        ledger = try Ledger.open(at: Self.root, storage: disk, options: options)
        #expect(try ledger.missingEntries(Array(acked)).isEmpty)
        // Syncing, the same snapshot compacts.
        try ledger.snapshot()
        try workload.run(ledger, clock: clock, batches: 2, stepNsMax: 1_000_000_000)
        #expect(try ledger.snapshot().walFilesDeleted > 0)
        try ledger.close()
        #expect(try Verifier.verify(at: Self.root, storage: disk).passed)
    }

    @Test func damagedNewestSnapshotFallsBackToThePreviousOne() throws {
        var (disk, clock, ledger, workload) = try Self.started(seed: 3)
        try workload.run(ledger, clock: clock, batches: 300, stepNsMax: 20_000 * 1_000_000_000)
        let first = try ledger.snapshot()
        try workload.run(ledger, clock: clock, batches: 60, stepNsMax: 20_000 * 1_000_000_000)
        let second = try ledger.snapshot()
        #expect(second.walFilesDeleted > 0)
        let before = try Self.balances(ledger, workload.accountCount)
        try ledger.close()
        // A byte of the entry table, which only the body SHA-256 covers (account slots carry their own CRC).
        disk.corrupt(second.path, at: SnapshotFormat.headerBytes + workload.accountCount * SnapshotFormat.accountBytes + 20)
        let problems = try Verifier.verify(at: Self.root, storage: disk).problems
        #expect(problems.contains { $0.file == second.path && $0.kind == "snapshot corruption" && $0.message.contains("SHA-256") }, "\(problems)")
        let lines = LogLines()
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock, lines: lines))
        #expect(ledger.recovery.snapshotLSN == first.lsn)
        #expect(lines.all.contains { $0.contains(second.path) && $0.contains("falling back") }, "\(lines.all)")
        #expect(try Self.balances(ledger, workload.accountCount) == before)
        try ledger.close()

        // With both damaged and the WAL before them deleted, the state is
        // rebuilt from the segments, with a log line saying so.
        disk.corrupt(first.path, at: 10)
        let entriesBefore = workload.appliedEntryIDs
        let rebuildLines = LogLines()
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock, lines: rebuildLines))
        #expect(ledger.recovery.rebuiltFromSegments && ledger.recovery.snapshotLSN == 0)
        #expect(rebuildLines.all.contains { $0.contains("rebuilt the state from the segments") }, "\(rebuildLines.all)")
        #expect(try Self.balances(ledger, workload.accountCount) == before)
        let missing = try ledger.missingEntries(Array(entriesBefore))
        #expect(missing.isEmpty, "ids lost by the rebuild: \(missing.prefix(3))")
        let retried = try ledger.submitAndWait(EventBatch([transfer(entriesBefore[5], from: 1, to: 2, 1)]))
        #expect(retried[0] == .exists || retried[0] == .existsWithDifferentFields, "idempotency after the rebuild")
        // It keeps working: holds expire, months roll, queries agree with the oracle.
        try workload.run(ledger, clock: clock, batches: 60, stepNsMax: 20_000 * 1_000_000_000)
        try SegmentQueryTests.expectQueriesMatchOracle(ledger, disk, workload, "rebuilt from segments")
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.problems.contains { $0.kind == "state rebuilt from segments" } || report.replayStartLSN > 0)
        #expect(report.problems.filter { $0.severity == .error }.allSatisfy { $0.kind == "snapshot corruption" }, "\(report.problems)")
    }

    @Test func withoutSnapshotsOrTheMonthsBeforeTheWALOpeningIsRefusedByName() throws {
        var (disk, clock, ledger, workload) = try Self.started(seed: 7)
        try workload.run(ledger, clock: clock, batches: 300, stepNsMax: 20_000 * 1_000_000_000)
        try ledger.snapshot()
        try workload.run(ledger, clock: clock, batches: 60, stepNsMax: 20_000 * 1_000_000_000)
        let second = try ledger.snapshot()
        #expect(second.walFilesDeleted > 0)
        try ledger.close()
        let layout = DataDirectoryLayout(root: Self.root)
        for (_, path) in try SnapshotStore.list(storage: disk, layout: layout) { try disk.removeFile(path) }
        // Without the snapshots, verify rebuilds from the segments too.
        let rebuilt = try Verifier.verify(at: Self.root, storage: disk)
        #expect(rebuilt.passed && rebuilt.problems.contains { $0.kind == "state rebuilt from segments" }, "\(rebuilt.problems.map(\.description))")
        // A month gone as well: nothing can rebuild the state, and opening says where to look.
        let months = try SegmentFiles.months(storage: disk, layout: layout)
        try disk.removeFile(layout.segmentPath(months.first!.month))
        #expect {
            try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        } throws: { error in
            (error as? LedgerError)?.code == .corruption && (error as? LedgerError)?.message.contains("ledgerctl verify") == true
        }
        let refused = try Verifier.verify(at: Self.root, storage: disk)
        #expect(!refused.passed && refused.problems.contains { $0.kind == "history missing" || $0.kind == "segment corruption" }, "\(refused.problems)")
    }

    @Test func holdsExpireOnTimeAfterRecoveryFromASnapshot() throws {
        let disk = SimulatedDisk(seed: 4)
        let clock = TestClock(UTCMonth(year: 2026, month: 10).startNs)
        try Ledger.initialize(at: Self.root, storage: disk, options: Self.options(clock))
        var ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        _ = try ledger.submitAndWait(EventBatch([usd(1), usd(2), transfer(10, from: 1, to: 2, 700, kind: .pending, timeout: 60)]))
        let snapshot = try ledger.snapshot()
        try ledger.close()
        ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        #expect(ledger.recovery.snapshotLSN == snapshot.lsn)
        clock.advance(61 * 1_000_000_000)
        _ = try ledger.submitAndWait(EventBatch([usd(3)]))  // expiries run ahead of the next batch
        #expect(try ledger.entry(id: 10)?.holdState == .expired)
        #expect(try ledger.account(id: 1)?.debitsPending == 0 && ledger.account(id: 2)?.creditsPending == 0)
        try ledger.close()
    }

    @Test(arguments: testSeeds(20))
    func crashDuringSnapshotOrCompactionLosesNothing(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        // No automatic snapshots: a simulated crash cannot kill the old
        // engine's threads, which would keep writing beside the new one.
        var (disk, clock, ledger, workload) = try Self.started(seed: seed, intervalBytes: 0)
        var options = Self.options(clock, intervalBytes: 0)
        // Half the seeds snapshot as the automatic snapshots do: without
        // syncing the segments, compacting only what they hold durably
        // (synced every 40 groups here, so some filed records are not).
        let syncing = seed % 4 < 2
        if !syncing {
            try ledger.close()
            options.indexCheckpointGroups = 40
            ledger = try Ledger.open(at: Self.root, storage: disk, options: options)
        }
        try workload.run(ledger, clock: clock, batches: 100, stepNsMax: 20_000 * 1_000_000_000)
        try ledger.snapshot(syncingSegments: syncing ? .always : .never)  // so that the crashing one has a predecessor and compacts
        try workload.run(ledger, clock: clock, batches: 100, stepNsMax: 20_000 * 1_000_000_000)
        if seed % 2 == 0 {  // compacted before the crash, for the rebuild below
            try ledger.snapshot(syncingSegments: syncing ? .always : .never)
            try workload.run(ledger, clock: clock, batches: 30, stepNsMax: 20_000 * 1_000_000_000)
        }
        let acked = workload.appliedEntryIDs
        // Crash somewhere inside a snapshot (write, rename, prune, compaction).
        disk.crashAtOperation = disk.operations + Int.random(in: 1...40, using: &rng)
        _ = try? ledger.snapshot(syncingSegments: syncing ? .always : .never)
        if disk.crashAtOperation != nil {  // the snapshot finished first: crash now
            disk.crashAtOperation = nil
            disk.crash()
        }
        // Half the seeds also lose every snapshot, so that recovery rebuilds
        // from the segments as the crash left them (torn tails, a group cut
        // by a month's seal) when the WAL was compacted.
        let dropSnapshots = seed % 2 == 0
        if dropSnapshots {
            for (_, path) in try SnapshotStore.list(storage: disk, layout: DataDirectoryLayout(root: Self.root)) { try disk.removeFile(path) }
        }
        ledger = try Ledger.open(at: Self.root, storage: disk, options: options)
        let missing = try ledger.missingEntries(Array(acked))
        #expect(missing.isEmpty, "seed \(seed): lost \(missing.prefix(3))")
        let balances = try Self.balances(ledger, workload.accountCount)
        let compacted = !disk.names().contains { $0.hasSuffix("/wal-00000000000000000001.log") }
        #expect(!(dropSnapshots && compacted) || ledger.recovery.rebuiltFromSegments, "seed \(seed): the WAL was compacted but the state was not rebuilt")
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "seed \(seed): \(report.problems)")
        if dropSnapshots {
            // The rebuilt state equals the state a full replay gives (verify
            // compared it), and reopening again gives the same balances.
            let again = try Ledger.open(at: Self.root, storage: disk, options: options)
            #expect(try Self.balances(again, workload.accountCount) == balances, "seed \(seed)")
            try again.close()
        }
    }

    /// Entries load in prefetched chunks: an entry repeated across the
    /// chunk's boundary, or a zero id, is still refused by name.
    @Test(arguments: [(1, 0), (1_500, 200), (1_500, 1_300)])
    func aRepeatedOrZeroEntryIDIsRefused(entryCount: Int, repeatedAt: Int) throws {
        var machine = LedgerStateMachine()
        var results: [ResultCode] = []
        var events: [Event] = [usd(1), usd(2)]
        for i in 0..<entryCount { events.append(transfer(UInt128(1_000 + i), from: 1, to: 2, 1)) }
        let batch = EventBatch(events)
        batch.bytes.withUnsafeBytes { machine.apply($0, eventCount: batch.eventCount, timestamp: 1_700_000_000_000_000_000, results: &results) }
        let disk = SimulatedDisk(seed: 1)
        let layout = DataDirectoryLayout(root: "/repeat")
        try disk.makeDirectory(layout.root)
        let directoryID = [UInt8](repeating: 7, count: 16)
        let (path, _) = try SnapshotStore.write(
            machine, filter: nil, lsn: 1, chainHead: [UInt8](repeating: 0, count: 32), directoryID: directoryID, storage: disk, layout: layout)
        var bytes = disk.bytes(path)
        let entries = SnapshotFormat.headerBytes + 2 * SnapshotFormat.accountBytes
        let target = entries + repeatedAt * SnapshotFormat.entryBytes
        if repeatedAt == 0 {
            for i in 0..<16 { bytes[target + i] = 0 }
        } else {  // the id of the first entry, again
            for i in 0..<16 { bytes[target + i] = bytes[entries + i] }
        }
        try disk.removeFile(path)
        let file = try disk.openFile(path, create: true)
        try file.write(bytes, at: 0)
        file.close()
        #expect(throws: LedgerError.self) { _ = try SnapshotStore.load(path: path, storage: disk, directoryID: directoryID) }
        do {
            _ = try SnapshotStore.load(path: path, storage: disk, directoryID: directoryID)
        } catch let error as LedgerError {
            #expect(error.code == .corruption && error.message.contains("is invalid or repeated") && error.path == path, "\(error)")
        }
    }

    /// A header whose filter fields disagree (with a valid CRC) is refused
    /// by name before any body byte is read or any memory sized from them.
    @Test func inconsistentFilterFieldsInAHeaderAreRefused() throws {
        let valid = SnapshotHeader(
            lsn: 1, lastTimestamp: 2, directoryID: [UInt8](repeating: 7, count: 16), accountCount: 0, entryCount: 0, holdCount: 0,
            holdPostingCount: 0, bodyBytes: 2 * SnapshotFormat.filterBlockBytes, chainHead: [UInt8](repeating: 0, count: 32),
            bodySHA256: [UInt8](repeating: 0, count: 32), filterSeed: 9, filterCapacity: 64, filterIDCount: 3, filterBlockCount: 2)
        #expect(try SnapshotHeader.decode(valid.encoded(), path: "/s") == valid)
        let edits: [(String, (inout SnapshotHeader) -> Void)] = [
            ("blocks for another capacity", { $0.filterBlockCount = 3 }),
            ("more ids than capacity", { $0.filterIDCount = 65 }),
            ("capacity past the limit", { $0.filterCapacity = SnapshotFormat.filterCapacityMax + 1 }),
            ("fields without blocks", { $0.filterBlockCount = 0 }),
            ("body size without the filter", { $0.bodyBytes = 0 }),
        ]
        for (what, edit) in edits {
            var header = valid
            edit(&header)
            #expect(throws: LedgerError.self, "\(what)") { _ = try SnapshotHeader.decode(header.encoded(), path: "/s") }
        }
    }

    @Test func snapshotVectorDecodesAndReencodes() throws {
        let bytes = try FormatVectorTests.vector("snapshot.hex")
        let directoryID = Array(UInt8(0xf0)...UInt8(0xff))
        let specs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let chainHex = Array(try String(contentsOf: specs.appendingPathComponent("Specs/vectors/wal-chain-1.txt"), encoding: .utf8).prefix(64))
        let chainHead = stride(from: 0, to: 64, by: 2).map { UInt8(String(chainHex[$0..<($0 + 2)]), radix: 16)! }
        var machine = LedgerStateMachine()
        var results: [ResultCode] = []
        let batch = EventBatch([
            .createAccount(NewAccount(id: 1, ledger: 840, code: 1)), .createAccount(NewAccount(id: 2, ledger: 840, code: 1)),
            transfer(1001, from: 1, to: 2, 2500, kind: .pending),
        ])
        batch.bytes.withUnsafeBytes { machine.apply($0, eventCount: batch.eventCount, timestamp: 1_700_000_000_000_000_000, results: &results) }
        #expect(results == [.ok, .ok, .ok])
        let disk = SimulatedDisk(seed: 1)
        let layout = DataDirectoryLayout(root: "/vector")
        try disk.makeDirectory(layout.root)
        var filter = EvictedIDFilter(capacity: 64, seed: 0x0123_4567_89AB_CDEF)
        for id: UInt128 in [7, 1 << 64 + 9, 1001] { filter.insert(id) }
        let (path, _) = try SnapshotStore.write(
            machine, filter: filter, lsn: 1, chainHead: chainHead, directoryID: directoryID, storage: disk, layout: layout)
        let written = disk.bytes(path)
        #expect(
            written == bytes,
            "the snapshot differs from the vector (first difference at \((0..<min(written.count, bytes.count)).first { written[$0] != bytes[$0] } ?? -1))")
        let (header, loaded, loadedFilter) = try SnapshotStore.load(path: path, storage: disk, directoryID: directoryID)
        #expect(header.lsn == 1 && header.chainHead == chainHead && header.entryCount == 1 && header.holdCount == 1)
        #expect(loaded.difference(from: machine) == nil)
        #expect(loadedFilter == filter && header.filterBlockCount == 2 && header.filterIDCount == 3)
        #expect(loadedFilter.map { f in [7, 1 << 64 + 9, 1001].allSatisfy { f.mightContain($0) } } == true)

        // The same state in format version 4, whose fingerprint had 64 bits
        // (this one's top byte is not zero): read as its low 56, the same state.
        let v4 = try FormatVectorTests.vector("snapshot-v4.hex")
        let fingerprintOffset = SnapshotFormat.headerBytes + 2 * SnapshotFormat.accountBytes + 16
        #expect(v4.withUnsafeBytes { _LE.u64($0, fingerprintOffset) } >> 56 != 0 && bytes.withUnsafeBytes { _LE.u64($0, fingerprintOffset) } >> 56 == 0)
        let v4Layout = DataDirectoryLayout(root: "/vector-v4")
        for directory in [v4Layout.root, v4Layout.snapshotsDirectory] { try disk.makeDirectory(directory) }
        try disk.openFile(v4Layout.snapshotPath(lsn: 1), create: true).write(v4, at: 0)
        let (v4Header, v4Loaded, _) = try SnapshotStore.load(path: v4Layout.snapshotPath(lsn: 1), storage: disk, directoryID: directoryID)
        #expect(v4Header.lsn == 1 && v4Loaded.difference(from: machine) == nil)
    }
}
