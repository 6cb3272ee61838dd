import Dispatch
import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The filter of evicted ids grows on a thread of its own
/// (EvictedEntries+Growth.swift) and never loses an evicted id: not those
/// of the months it reads, nor those evicted while it was being built.
@Suite struct FilterGrowthTests {
    static let root = "/sim/filter-growth"
    static let day: UInt64 = 86_400 * 1_000_000_000

    /// `chunks` × 500 transfers (ids `first`...) in the clock's month, then
    /// the clock moved into the next month.
    static func month(_ ledger: Ledger, _ clock: TestClock, first: Int, chunks: Int = 3) throws {
        for chunk in 0..<chunks {
            let events = (0..<500).map { transfer(UInt128(first + chunk * 500 + $0), from: 1, to: 2, 1) }
            #expect(try ledger.submitAndWait(EventBatch(events)).allSatisfy { $0 == .ok })
        }
        clock.advance(UTCMonth(containing: clock.read()).next.startNs + Self.day - clock.read())
    }

    @Test func aFilterGrownInTheBackgroundHoldsEveryEvictedIdIncludingThoseEvictedMeanwhile() throws {
        let disk = SimulatedDisk(seed: 21)
        let clock = TestClock(UTCMonth(year: 2026, month: 9).startNs + Self.day)
        try Ledger.initialize(at: Self.root, storage: disk, options: ResidentWindowTests.options(clock))
        let ledger = try Ledger.open(at: Self.root, storage: disk, options: ResidentWindowTests.options(clock))
        ledger.evicted.backgroundGrowthCapacityMin = 0
        let hold = DispatchSemaphore(value: 0)
        let reading = DispatchSemaphore(value: 0)
        ledger.evicted.growthWillRead = {
            reading.signal()
            hold.wait()
        }
        #expect(try ledger.submitAndWait(EventBatch([usd(1), usd(2)])) == [.ok, .ok])
        try Self.month(ledger, clock, first: 10_000)  // September
        try Self.month(ledger, clock, first: 20_000)  // October; entering November evicts September (1,500 ids of 4,096)
        try Self.month(ledger, clock, first: 30_000, chunks: 2)  // November; entering December evicts October: past half, a growth starts
        #expect(try ledger.submitAndWait(EventBatch([transfer(40_000, from: 1, to: 2, 1)])) == [.ok])
        #expect(try ledger.submitAndWait(EventBatch([transfer(40_001, from: 1, to: 2, 1)])) == [.ok])
        #expect(reading.wait(timeout: .now() + 30) == .success, "no growth started")
        // The growth holds September and October's ids; November's are
        // evicted while it is held (entering January).
        // (4,000 ids of 4,096: no eviction needs the new filter yet, so
        // none waits for it.)
        clock.advance(UTCMonth(year: 2027, month: 1).startNs + Self.day - clock.read())
        let january = SealedIndexWriterTests.within(seconds: 30) {
            try [50_000, 50_001].map { try ledger.submitAndWait(EventBatch([transfer(UInt128($0), from: 1, to: 2, 1)])) }
        }
        #expect(try january?.get() == [[.ok], [.ok]], "an eviction waited for the growth")
        #expect(ledger.evicted.filterGrowths.inBackground == 0)
        hold.signal()
        for _ in 0..<3_000 where ledger.evicted.filterGrowths.inBackground == 0 { usleep(1_000) }
        #expect(ledger.evicted.filterGrowths == (inBackground: 1, inPlace: 0))
        #expect(ledger.evicted.filterCapacity == 2 * EvictedEntries.filterCapacityMin)
        // Every evicted id is still known: retries are refused as such.
        for id in [10_000, 11_499, 20_000, 21_499, 30_000, 30_999] {
            #expect(try ledger.submitAndWait(EventBatch([transfer(UInt128(id), from: 1, to: 2, 1)])) == [.exists], "id \(id)")
        }
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
    }
}
