import Dispatch
import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The resident window's two rules (StateMachine/ResidentWindow.swift,
/// Specs/ledger-meta.md): which one a directory follows is fixed in its
/// meta, since it decides results the log records.
@Suite struct ResidentWindowRuleTests {
    static let root = ResidentWindowTests.root
    static let day = ResidentWindowTests.day

    /// A hold posted in September is settled again in October, in the group
    /// after the first that succeeded in October: with one month it has left
    /// memory (`pendingSettledLongAgo`), with two it is still resident
    /// (`pendingAlreadyPosted`). Recovery replays under the meta's rule (it
    /// would refuse a result that differs from the log's) and `verify`
    /// passes.
    @Test(arguments: [1, 2]) func aSettledHoldLeavesAtTheGroupAfterTheMonthTurns(windowMonths: Int) throws {
        let disk = SimulatedDisk(seed: 31)
        let clock = TestClock(UTCMonth(year: 2026, month: 9).startNs + Self.day)
        let options = ResidentWindowTests.options(clock, windowMonths: windowMonths)
        try Ledger.initialize(at: Self.root, storage: disk, options: options)
        #expect(try DataDirectoryMeta.read(storage: disk, layout: DataDirectoryLayout(root: Self.root)).residentWindowMonths == windowMonths)
        var ledger = try Ledger.open(at: Self.root, storage: disk, options: ResidentWindowTests.options(clock))
        #expect(try ResidentWindowTests.submit(ledger, [usd(1), usd(2)]) == [.ok, .ok])
        #expect(try ResidentWindowTests.submit(ledger, [transfer(501, from: 1, to: 2, 40, kind: .pending)]) == [.ok])
        #expect(try ResidentWindowTests.submit(ledger, [.createEntry(NewEntry(id: 601, kind: .postPending, postings: [], pendingID: 501))]) == [.ok])
        clock.advance(UTCMonth(year: 2026, month: 10).startNs + Self.day - clock.read())
        #expect(try ResidentWindowTests.submit(ledger, [transfer(700, from: 2, to: 1, 1)]) == [.ok])
        #expect(try ledger.read { $0.entry(id: 501) } != nil, "the group that first succeeded in October evicts nothing")
        let again = [Event.createEntry(NewEntry(id: 602, kind: .voidPending, postings: [], pendingID: 501))]
        #expect(try ResidentWindowTests.submit(ledger, again) == [windowMonths == 1 ? .pendingSettledLongAgo : .pendingAlreadyPosted])
        #expect(try ledger.read { $0.entry(id: 501) == nil } == (windowMonths == 1))
        let balances = try [1, 2].map { try ledger.account(id: UInt128($0)) }
        try ledger.close()
        ledger = try Ledger.open(at: Self.root, storage: disk, options: ResidentWindowTests.options(clock))
        #expect(ledger.recovery.recordsReplayed > 0)
        #expect(try [1, 2].map { try ledger.account(id: UInt128($0)) } == balances)
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
    }

    /// Batches that cross into October share groups with batches that
    /// retry September's ids (group commit, every group through the
    /// pipeline). The one-month rule evicts only as a group starts, so a
    /// retry never waits for the filing of a group it belongs to (a
    /// per-batch rule would wait forever: the month it evicted is sealed
    /// only when that group is filed). Every batch is answered, each retry
    /// is `exists`, and the replay agrees.
    @Test func retriesAcrossTheMonthInOneGroupAreAnsweredAndReplayAgrees() throws {
        let disk = SimulatedDisk(seed: 32)
        let clock = TestClock(UTCMonth(year: 2026, month: 9).startNs + Self.day)
        var options = ResidentWindowTests.options(clock)
        options.inlineGroupPayloadBytesMax = 0
        try Ledger.initialize(at: Self.root, storage: disk, options: options)
        var ledger = try Ledger.open(at: Self.root, storage: disk, options: options)
        #expect(try ResidentWindowTests.submit(ledger, [usd(1), usd(2)]) == [.ok, .ok])
        let septemberIDs = (0..<40).map { UInt128(10_000 + $0) }
        for id in septemberIDs { #expect(try ResidentWindowTests.submit(ledger, [transfer(id, from: 1, to: 2, 5)]) == [.ok]) }
        clock.advance(UTCMonth(year: 2026, month: 10).startNs + Self.day - clock.read())
        // The apply thread is held by a read while all batches queue, so
        // the first October batch and retries of September share a group.
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let held = ledger
        DispatchQueue.global().async {
            _ = try? held.read { _ in
                holding.signal()
                release.wait()
            }
        }
        holding.wait()
        let batches = 400
        let answered = DispatchSemaphore(value: 0)
        let results = Guarded<[Int: [ResultCode]]>([:])
        for i in 0..<batches {
            // Even batches are new October transfers, odd ones retry September.
            let id = i % 2 == 0 ? UInt128(50_000 + i) : septemberIDs[(i / 2) % septemberIDs.count]
            ledger.submit(EventBatch([transfer(id, from: 1, to: 2, 5)])) { result in
                results.withLock { $0[i] = (try? result.get())?.results ?? [] }
                answered.signal()
            }
        }
        release.signal()
        for i in 0..<batches {
            try #require(
                answered.wait(timeout: .now() + 30) == .success, "batch \(i) of \(batches) unanswered after 30 s: the apply thread waits on its own group")
        }
        let got = results.withLock { $0 }
        for i in 0..<batches { #expect(got[i] == [i % 2 == 0 ? .ok : .exists], "batch \(i)") }
        // September is still resident (no group started since October
        // succeeded); the next group evicts it, and its retry is answered
        // from the sealed month.
        #expect(try ledger.read { $0.residentSinceNs } < UTCMonth(year: 2026, month: 10).startNs)
        #expect(try ResidentWindowTests.submit(ledger, [transfer(septemberIDs[0], from: 1, to: 2, 5)]) == [.exists])
        #expect(try ledger.read { $0.residentSinceNs } == UTCMonth(year: 2026, month: 10).startNs)
        #expect(ledger.evicted.foundOnDisk > 0, "the retry was answered from the sealed September")
        let balances = try [1, 2].map { try ledger.account(id: UInt128($0)) }
        try ledger.close()
        ledger = try Ledger.open(at: Self.root, storage: disk, options: options)
        #expect(try [1, 2].map { try ledger.account(id: UInt128($0)) } == balances)
        try ledger.close()
        #expect(try Verifier.verify(at: Self.root, storage: disk).passed)
    }

    /// `initialize` refuses a window other than 1 or 2 months before
    /// writing anything.
    @Test func initializeRefusesAnUndefinedWindow() throws {
        let disk = SimulatedDisk(seed: 33)
        var options = Ledger.Options()
        options.residentWindowMonths = 3
        #expect(throws: LedgerError.self) { try Ledger.initialize(at: Self.root, storage: disk, options: options) }
        #expect(!disk.fileExists(Self.root))
    }
}
