import Foundation
import LedgerModel
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The LSN watch's callbacks (reads waiting for a minimum LSN): each runs
/// exactly once, when its LSN arrives or the watch closes, or never once
/// cancelled; and the LSN a write is answered with is the LSN a read waits
/// for.
@Suite struct LSNWatchTests {
    final class Calls: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [String: UInt64] = [:]
        func record(_ name: String, _ lsn: UInt64) {
            lock.withLock {
                precondition(values[name] == nil, "\(name) ran twice")
                values[name] = lsn
            }
        }
        var all: [String: UInt64] { lock.withLock { values } }
    }

    @Test func callbacksRunOnceWhenTheirLSNArrivesAndNeverAfterACancel() {
        let watch = LSNWatch(lsn: 10)
        let calls = Calls()
        #expect(watch.whenReached(10) { calls.record("now", $0) } == nil)  // already there: the caller goes on
        let at12 = watch.whenReached(12) { calls.record("12", $0) }
        let at15 = watch.whenReached(15) { calls.record("15", $0) }
        let cancelled = watch.whenReached(13) { calls.record("13", $0) }
        #expect(at12 != nil && at15 != nil && watch.pendingCallbacks == 3)
        #expect(watch.cancel(cancelled!))
        watch.advance(to: 11)
        #expect(calls.all.isEmpty)
        watch.advance(to: 14)
        #expect(calls.all == ["12": 14])
        #expect(!watch.cancel(at12!))  // it ran: too late to cancel
        watch.advance(to: 20)
        #expect(calls.all == ["12": 14, "15": 20] && watch.pendingCallbacks == 0)
    }

    @Test func closingRunsEveryCallbackWithTheLSNItStoppedAt() {
        let watch = LSNWatch(lsn: 3)
        let calls = Calls()
        _ = watch.whenReached(9) { calls.record("a", $0) }
        _ = watch.whenReached(99) { calls.record("b", $0) }
        watch.close()
        #expect(calls.all == ["a": 3, "b": 3])
        #expect(watch.whenReached(100) { calls.record("late", $0) } == nil)  // closed: nothing to wait for
    }

    @Test func aWriteIsAnsweredWithTheLSNItsGroupIsDurableAt() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Ledger.initialize(at: dir, options: LedgerTests.options())
        let ledger = try Ledger.open(at: dir, options: LedgerTests.options())
        defer { try? ledger.close() }
        let accounts = EventBatch([usd(1), usd(2)])
        let done = ConditionLock()
        nonisolated(unsafe) var committed: [Ledger.Committed] = []
        for (i, batch) in [accounts, EventBatch([transfer(7, from: 1, to: 2, 5)])].enumerated() {
            ledger.submit(batch) { result in
                done.withLock {
                    committed.append(try! result.get())
                    done.signal()
                }
            }
            done.withLock { while committed.count <= i { done.wait() } }
        }
        #expect(committed.map(\.results) == [[.ok, .ok], [.ok]])
        #expect(committed[0].lsn < committed[1].lsn)
        #expect(committed[1].lsn == ledger.lastLSN.current)
        #expect(try ledger.lookup(entryID: 7)?.lsn == committed[1].lsn)
    }
}
