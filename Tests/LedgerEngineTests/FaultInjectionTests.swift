import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Each fault the storage interface can inject, and what the engine must do.
@Suite struct FaultInjectionTests {
    static let root = "/sim/ledger"

    static func options(_ log: LogLines = LogLines(), pipelined: Bool = false) -> Ledger.Options {
        var options = Ledger.Options()
        if pipelined { options.inlineGroupPayloadBytesMax = 0 }
        options.walFileBytes = 64 * 1024
        options.indexCheckpointGroups = 3
        // A simulated crash cannot kill the old engine's snapshot thread;
        // SnapshotTests crash inside explicit snapshots instead.
        options.snapshotIntervalWALBytes = 0
        options.log = { log.append($0) }
        return options
    }

    /// A fresh simulated directory with accounts 1...10 (no overdraft flags).
    static func setUp(seed: UInt64) throws -> SimulatedDisk {
        let disk = SimulatedDisk(seed: seed)
        try Ledger.initialize(at: root, storage: disk, options: options())
        let ledger = try Ledger.open(at: root, storage: disk, options: options())
        _ = try ledger.submitAndWait(EventBatch((1...10).map { usd(UInt128($0)) }))
        try ledger.close()
        return disk
    }

    /// Posts batches of transfers until `count` batches or the first failure;
    /// returns the ids of acknowledged entries.
    static func post(_ ledger: Ledger, batches count: Int, firstID: UInt128, rng: inout SeededRandom) -> (acked: [UInt128], error: LedgerError?) {
        var acked: [UInt128] = []
        var id = firstID
        for _ in 0..<count {
            var events: [Event] = []
            var ids: [UInt128] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let from = UInt128(Int.random(in: 1...10, using: &rng))
                let to = from % 10 + 1
                events.append(transfer(id, from: from, to: to, UInt128(Int.random(in: 1...999, using: &rng))))
                ids.append(id)
                id += 1
            }
            do {
                let results = try ledger.submitAndWait(EventBatch(events))
                for (entryID, result) in zip(ids, results) where result == .ok { acked.append(entryID) }
            } catch let error as LedgerError {
                return (acked, error)
            } catch {
                Issue.record("unexpected error \(error)")
                return (acked, nil)
            }
        }
        return (acked, nil)
    }

    /// Reopens after a fault and checks: every acknowledged entry is present,
    /// the invariants hold, and verify passes after a clean close.
    static func recoverAndCheck(_ disk: SimulatedDisk, acked: [UInt128], seed: UInt64, log: LogLines = LogLines()) throws {
        let ledger = try Ledger.open(at: root, storage: disk, options: options(log))
        let missing = try ledger.missingEntries(Array(acked))
        #expect(missing.isEmpty, "seed \(seed): acknowledged entries lost: \(missing.prefix(5))")
        let violations = try ledger.read { $0.invariantViolations() }
        #expect(violations.isEmpty, "seed \(seed): \(violations)")
        try ledger.close()
        let report = try Verifier.verify(at: root, storage: disk)
        #expect(report.passed, "seed \(seed): \(report.problems)")
    }

    static func walPaths(_ disk: SimulatedDisk) -> [String] { disk.names().filter { $0.hasSuffix(".log") } }

    @Test func acknowledgedEntriesSurviveLosingEveryUnsyncedWrite() throws {
        let disk = try Self.setUp(seed: 1)
        var rng = SeededRandom(seed: 1)
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options())
        let (acked, error) = Self.post(ledger, batches: 60, firstID: 1_000, rng: &rng)
        #expect(error == nil)
        disk.crash(mode: .dropUnsynced)
        try Self.recoverAndCheck(disk, acked: acked, seed: 1)
    }

    @Test(arguments: testSeeds(40), [false, true])
    func tornWritesAtRandomCrashPointsNeverLoseAcknowledgedEntries(seed: UInt64, pipelined: Bool) throws {
        let disk = try Self.setUp(seed: seed)
        var rng = SeededRandom(seed: seed)
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(pipelined: pipelined))
        disk.crashAtOperation = disk.operations + Int.random(in: 1...600, using: &rng)
        let (acked, _) = Self.post(ledger, batches: 400, firstID: 1_000, rng: &rng)
        if disk.crashAtOperation != nil { disk.crash() }  // the batches ran out first
        try Self.recoverAndCheck(disk, acked: acked, seed: seed)
    }

    @Test(arguments: [false, true])
    func fsyncFailureStopsTheEngineWithoutRetrying(pipelined: Bool) throws {
        let disk = try Self.setUp(seed: 2)
        var rng = SeededRandom(seed: 2)
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(pipelined: pipelined))
        let (ackedBefore, _) = Self.post(ledger, batches: 5, firstID: 1_000, rng: &rng)
        let wal = Self.walPaths(disk).last!
        let syncsBefore = disk.syncCalls[wal, default: 0]
        disk.failSync = { $0 == wal }
        let (ackedDuring, error) = Self.post(ledger, batches: 5, firstID: 2_000, rng: &rng)
        #expect(ackedDuring.isEmpty)
        #expect(error?.code == .stopped)
        #expect(error?.message.contains("fdatasync") == true)
        // No retry: exactly one more fdatasync reached the file, and later
        // submissions are refused without touching the disk.
        #expect(disk.syncCalls[wal, default: 0] == syncsBefore + 1)
        let (ackedAfter, errorAfter) = Self.post(ledger, batches: 3, firstID: 3_000, rng: &rng)
        #expect(ackedAfter.isEmpty && errorAfter?.code == .stopped)
        #expect(disk.syncCalls[wal, default: 0] == syncsBefore + 1)
        #expect(throws: LedgerError.self) { try ledger.close() }
        disk.failSync = nil
        disk.crash()
        try Self.recoverAndCheck(disk, acked: ackedBefore, seed: 2)
    }

    @Test func noSpaceWhilePreparingTheNextWALFileStopsTheEngine() throws {
        let disk = try Self.setUp(seed: 3)
        var rng = SeededRandom(seed: 3)
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options())
        disk.noSpace = { $0.hasSuffix(".tmp") }
        let (acked, error) = Self.post(ledger, batches: 2_000, firstID: 1_000, rng: &rng)
        #expect(error?.code == .stopped)
        #expect(error?.message.contains("ENOSPC") == true)
        #expect(acked.count > 50)
        disk.noSpace = nil
        disk.crash()
        try Self.recoverAndCheck(disk, acked: acked, seed: 3)
    }

    /// Posts, closes cleanly and returns the WAL records' (path, offset).
    /// Callers are answered once their group's fdatasync returned, before
    /// the group is filed (CommitThreads.swift). A filing error afterwards
    /// stops the engine: the answered batch is in the log and survives, and
    /// no caller is told "failed" about a batch the log holds.
    @Test(arguments: [false, true])
    func filingFailureAfterTheAcknowledgmentStopsTheEngineAndKeepsTheAnswer(pipelined: Bool) throws {
        let disk = try Self.setUp(seed: 4)
        var rng = SeededRandom(seed: 4)
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(pipelined: pipelined))
        let (ackedBefore, _) = Self.post(ledger, batches: 3, firstID: 1_000, rng: &rng)
        // A read runs once the last group is filed too (answered first).
        _ = try ledger.read { $0.entryCount }
        disk.noSpace = { $0.hasSuffix(".seg") }
        var acked = ackedBefore
        var refused: [UInt128] = []
        var id: UInt128 = 2_000
        for _ in 0..<50 where refused.isEmpty {
            let events = (0..<3).map { i in transfer(id + UInt128(i), from: 1, to: 2, 5) }
            do {
                #expect(try ledger.submitAndWait(EventBatch(events)).allSatisfy { $0 == .ok })
                acked += (0..<3).map { id + UInt128($0) }
            } catch let error as LedgerError {
                #expect(error.code == .stopped)
                #expect(error.message.contains("ENOSPC"), "\(error)")
                refused = (0..<3).map { id + UInt128($0) }
            }
            id += 3
        }
        #expect(!refused.isEmpty, "filing never failed")
        #expect(acked.count > ackedBefore.count, "the group whose filing failed was not acknowledged")
        #expect(throws: LedgerError.self) { try ledger.close() }
        disk.noSpace = nil
        disk.crash()
        try Self.recoverAndCheck(disk, acked: acked, seed: 4)
        let reopened = try Ledger.open(at: Self.root, storage: disk, options: Self.options())
        #expect(try reopened.missingEntries(refused) == refused, "a batch answered with an error is in the log")
        try reopened.close()
    }

    static func recordsAfterCleanClose(_ disk: SimulatedDisk, batches: Int) throws -> [(String, Int)] {
        var rng = SeededRandom(seed: 4)
        let ledger = try Ledger.open(at: root, storage: disk, options: options())
        _ = post(ledger, batches: batches, firstID: 1_000, rng: &rng)
        try ledger.close()
        var records: [(String, Int)] = []
        _ = try WALReader(storage: disk, layout: DataDirectoryLayout(root: root)).scan(mode: .recover) { records.append(($0.path, $0.offset)) }
        return records
    }

    @Test func corruptIndexSlotIsRebuiltFromTheLog() throws {
        let disk = try Self.setUp(seed: 8)
        _ = try Self.recordsAfterCleanClose(disk, batches: 5)
        let path = DataDirectoryLayout(root: Self.root).indexPath
        disk.corrupt(path, at: BalanceIndexFormat.slotsOffset + 2 * BalanceIndexFormat.slotBytes + 40)
        let log = LogLines()
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options(log))
        #expect(ledger.recovery.indexRebuildReason?.contains("slot 2") == true)
        #expect(log.all.contains { $0.contains("rebuilding") })
        try ledger.close()
        #expect(try Verifier.verify(at: Self.root, storage: disk).passed)
    }

    @Test func missingIndexIsRebuiltFromTheLog() throws {
        let disk = try Self.setUp(seed: 9)
        _ = try Self.recordsAfterCleanClose(disk, batches: 5)
        try disk.removeFile(DataDirectoryLayout(root: Self.root).indexPath)
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: Self.options())
        #expect(ledger.recovery.indexRebuildReason == "index file is missing")
        #expect(try ledger.account(id: 1) != nil)
        try ledger.close()
        #expect(try Verifier.verify(at: Self.root, storage: disk).passed)
    }

    @Test func watchdogReportsAStoredBalanceThatDiffersFromTheLog() throws {
        let disk = try Self.setUp(seed: 10)
        _ = try Self.recordsAfterCleanClose(disk, batches: 5)
        // A well-formed slot (valid CRC) with a wrong balance: only the
        // watchdog's recomputation can catch this.
        let path = DataDirectoryLayout(root: Self.root).indexPath
        let start = BalanceIndexFormat.slotsOffset + 3 * BalanceIndexFormat.slotBytes
        var slot = Array(disk.bytes(path)[start..<(start + BalanceIndexFormat.slotBytes)])
        var (account, lsn) = slot.withUnsafeBytes { BalanceIndexFormat.decodeSlot($0)! }
        account.creditsPosted += 1
        slot.withUnsafeMutableBytes { BalanceIndexFormat.encodeSlot(account, lsn: lsn, into: $0) }
        let file = try disk.openFile(path, create: false)
        try file.write(slot, at: start)
        try file.sync()
        // The index is a cache (balances are served from the log's state, and
        // the next open rewrites the slot): named, as a warning.
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed)
        #expect(report.problems.contains { $0.kind == "balance mismatch" && $0.offset == start && $0.severity == .warning })
    }
}
