import Dispatch
import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// A sealed month's index is written off the filing thread
/// (SealedIndexWriter.swift): commits go on while it is written, readers of
/// the month wait for it, and a failed write stops the engine.
@Suite struct SealedIndexWriterTests {
    static let root = "/sim/sealed-index"
    static let day: UInt64 = 86_400 * 1_000_000_000
    static let november = UTCMonth(year: 2026, month: 11)

    static func options(_ clock: TestClock) -> Ledger.Options {
        var options = ResidentWindowTests.options(clock)
        options.walFileBytes = 256 * 1024
        return options
    }

    /// A ledger with accounts 1 and 2 and `count` November transfers (ids
    /// 100...), its clock then moved into December (unless not `intoDecember`).
    static func novemberLedger(_ storage: any Storage, count: Int = 30, intoDecember: Bool = true) throws -> (TestClock, Ledger) {
        let clock = TestClock(november.startNs + 27 * day)
        try Ledger.initialize(at: root, storage: storage, options: options(clock))
        let ledger = try Ledger.open(at: root, storage: storage, options: options(clock))
        #expect(try ledger.submitAndWait(EventBatch([usd(1), usd(2)])) == [.ok, .ok])
        for i in 0..<count {
            #expect(try ledger.submitAndWait(EventBatch([transfer(UInt128(100 + i), from: 1, to: 2, 5)])) == [.ok])
            clock.advance(day / 10)
        }
        if intoDecember { clock.advance(november.next.startNs + day - clock.read()) }
        return (clock, ledger)
    }

    /// `body` on a thread of its own; nil if it has not returned after
    /// `seconds` (so a regression fails the test instead of hanging it).
    static func within<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () throws -> T) -> Result<T, any Error>? {
        let done = DispatchSemaphore(value: 0)
        let outcome = Guarded<Result<T, any Error>?>(nil)
        Thread {
            let result = Result { try body() }
            outcome.withLock { $0 = result }
            done.signal()
        }.startDetached()
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return outcome.withLock { $0 }
    }

    @Test func commitsGoOnWhileASealedMonthsIndexIsWrittenAndItsReadersWaitForIt() throws {
        let disk = SimulatedDisk(seed: 11)
        let gated = GatedStorage(disk) { $0.hasSuffix(".idx.tmp") }
        let (_, ledger) = try Self.novemberLedger(gated)
        let indexPath = DataDirectoryLayout(root: Self.root).segmentIndexPath(Self.november)
        defer { gated.openGate() }
        // December's first entry seals November; its index is held at the gate.
        #expect(try ledger.submitAndWait(EventBatch([transfer(1_000, from: 1, to: 2, 7)])) == [.ok])
        #expect(gated.awaitHeldSync(), "the index of the sealed month was never synced")
        #expect(!disk.fileExists(indexPath))
        // Commits go on meanwhile (they waited for the whole seal before).
        let commits = Self.within(seconds: 30) {
            try (0..<20).map { i in try ledger.submitAndWait(EventBatch([transfer(UInt128(1_001 + i), from: 1, to: 2, 1)])) }
        }
        #expect(try commits?.get() == Array(repeating: [.ok], count: 20), "commits waited for the sealed month's index")
        #expect(gated.waitingPaths == [DataDirectoryLayout.temporaryPath(for: indexPath)])
        // A read of the sealed month waits for its index.
        let read = DispatchSemaphore(value: 0)
        let page = Guarded<HistoryPage?>(nil)
        Thread {
            page.withLock { $0 = try? ledger.history(account: 1, limit: 100) }
            read.signal()
        }.startDetached()
        #expect(read.wait(timeout: .now() + 0.3) == .timedOut, "a read of the sealed month ran before its index was written")
        gated.openGate()
        #expect(read.wait(timeout: .now() + 30) == .success)
        #expect(page.withLock { $0?.items.count } == 51)
        #expect(disk.fileExists(indexPath))
        try ledger.close()
        // The index written in the background is the one an open accepts.
        let logs = LogLines()
        var options = Self.options(TestClock(Self.november.next.startNs + 2 * Self.day))
        options.log = logs.append
        let reopened = try Ledger.open(at: Self.root, storage: disk, options: options)
        #expect(!logs.all.contains { $0.contains("rebuilding") }, "\(logs.all)")
        #expect(try reopened.history(account: 2, limit: 100).items.count == 51)
        try reopened.close()
    }

    /// EIO on the index's fdatasync, or ENOSPC on its write.
    @Test(arguments: [false, true]) func aSealedMonthsIndexThatCannotBeWrittenStopsTheEngineAndTheNextOpenRebuildsIt(noSpace: Bool) throws {
        let disk = SimulatedDisk(seed: 12)
        let (clock, ledger) = try Self.novemberLedger(disk)
        if noSpace { disk.noSpace = { $0.hasSuffix(".idx.tmp") } } else { disk.failSync = { $0.hasSuffix(".idx.tmp") } }
        // The sealing group itself was durable: its caller has its answer.
        #expect(try ledger.submitAndWait(EventBatch([transfer(1_000, from: 1, to: 2, 7)])) == [.ok])
        // The failed write stops the engine, without a retry.
        var stopped: LedgerError?
        for i in 0..<3_000 where stopped == nil {
            do {
                _ = try ledger.submitAndWait(EventBatch([transfer(UInt128(2_000 + i), from: 1, to: 2, 1)]))
                usleep(1_000)  // lets the index writer's thread run
            } catch let error as LedgerError {
                stopped = error
            }
        }
        #expect(stopped?.code == .stopped)
        #expect(stopped?.message.contains("2026-11.idx") == true, "\(String(describing: stopped))")
        #expect(stopped?.message.contains(noSpace ? "ENOSPC" : "fdatasync") == true, "\(String(describing: stopped))")
        #expect(disk.syncCalls.filter { $0.key.hasSuffix(".idx.tmp") }.values.reduce(0, +) == (noSpace ? 0 : 1))
        #expect(throws: LedgerError.self) { try ledger.close() }
        disk.failSync = nil
        disk.noSpace = nil
        // The month is sealed; the open rebuilds its missing index.
        let logs = LogLines()
        var options = Self.options(clock)
        options.log = logs.append
        let reopened = try Ledger.open(at: Self.root, storage: disk, options: options)
        #expect(logs.all.contains { $0.contains("index of 2026-11 is missing; rebuilding it") }, "\(logs.all)")
        #expect(try reopened.history(account: 1, limit: 100).items.count >= 31)
        try reopened.close()
    }

    /// Retries of November entries and a settlement of a November hold,
    /// with a fresh entry id `id`.
    static func novemberRetries(settlementID id: UInt128) -> [Event] {
        [
            transfer(100, from: 1, to: 2, 5), transfer(100, from: 1, to: 2, 6),
            .createEntry(NewEntry(id: id, kind: .postPending, postings: [], pendingID: 200)),
        ]
    }

    @Test func lookupsOfTheMonthJustEvictedAreAnsweredWhileItsIndexIsWrittenAndAsTheSealedMonthAnswers() throws {
        let disk = SimulatedDisk(seed: 13)
        let gated = GatedStorage(disk) { $0.hasSuffix(".idx.tmp") }
        let (clock, inNovember) = try Self.novemberLedger(gated, count: 0, intoDecember: false)
        defer { gated.openGate() }
        // November: a transfer, and a hold voided.
        #expect(try inNovember.submitAndWait(EventBatch([transfer(100, from: 1, to: 2, 5)])) == [.ok])
        #expect(try inNovember.submitAndWait(EventBatch([transfer(200, from: 1, to: 2, 9, kind: .pending)])) == [.ok])
        #expect(try inNovember.submitAndWait(EventBatch([.createEntry(NewEntry(id: 201, kind: .voidPending, postings: [], pendingID: 200))])) == [.ok])
        clock.advance(Self.november.next.startNs + Self.day - clock.read())
        // December's first entry seals November; its index is held.
        #expect(try inNovember.submitAndWait(EventBatch([transfer(1_000, from: 1, to: 2, 7)])) == [.ok])
        #expect(gated.awaitHeldSync())
        // The next groups evict November and look its ids up: answered from
        // the evicted table, without waiting for November's index.
        let expected: [[ResultCode]] = [[.exists], [.existsWithDifferentFields], [.pendingSettledLongAgo]]
        let early = Self.within(seconds: 30) { try Self.novemberRetries(settlementID: 300).map { try inNovember.submitAndWait(EventBatch([$0])) } }
        #expect(try early?.get() == expected, "lookups waited for the sealed month's index")
        #expect(inNovember.evicted.foundInRetired == 3)
        #expect(gated.waitingPaths.count == 1)
        // Once November's index is written the table is let go, and the
        // sealed month gives the same answers.
        gated.openGate()
        for _ in 0..<3_000 where inNovember.evicted.holdsRetiredEntries {
            #expect(try inNovember.submitAndWait(EventBatch([transfer(UInt128(5_000 + Int(clock.read() % 1_000)), from: 1, to: 2, 1)])).count == 1)
            clock.advance(1_000_000)
            usleep(1_000)
        }
        #expect(!inNovember.evicted.holdsRetiredEntries)
        let onDiskBefore = inNovember.evicted.foundOnDisk
        #expect(try Self.novemberRetries(settlementID: 301).map { try inNovember.submitAndWait(EventBatch([$0])) } == expected)
        #expect(inNovember.evicted.foundInRetired == 3)
        #expect(inNovember.evicted.foundOnDisk == onDiskBefore + 3)
        try inNovember.close()
        // Replay agrees with every recorded result.
        let reopened = try Ledger.open(at: Self.root, storage: disk, options: Self.options(clock))
        try reopened.close()
    }
}
