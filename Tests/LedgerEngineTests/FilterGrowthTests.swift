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

    /// `chunks` groups of `size` transfers (ids `first`...) in the clock's
    /// month, then the clock moved into the next month. The month before is
    /// evicted at the start of the second group.
    static func month(_ ledger: Ledger, _ clock: TestClock, first: Int, chunks: Int, size: Int = 500) throws {
        for chunk in 0..<chunks {
            let events = (0..<size).map { transfer(UInt128(first + chunk * size + $0), from: 1, to: 2, 1) }
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
        try Self.month(ledger, clock, first: 10_000, chunks: 3)  // September: 1,500 ids
        // October: 2,000 ids; its second group evicts September (1,500 of 4,096).
        try Self.month(ledger, clock, first: 20_000, chunks: 4)
        // November's second group evicts October: 3,500 ids, past 3/4, so a
        // growth starts, reads September and October, and is held.
        try Self.month(ledger, clock, first: 30_000, chunks: 2, size: 250)
        #expect(reading.wait(timeout: .now() + 30) == .success, "no growth started")
        // December's second group evicts November while the growth is held
        // (4,000 ids of 4,096: this eviction does not need the new filter,
        // so it does not wait for it).
        let december = SealedIndexWriterTests.within(seconds: 30) {
            try [40_000, 40_001].map { try ledger.submitAndWait(EventBatch([transfer(UInt128($0), from: 1, to: 2, 1)])) }
        }
        #expect(try december?.get() == [[.ok], [.ok]], "an eviction waited for the growth")
        #expect(ledger.evicted.filterGrowths.inBackground == 0)
        hold.signal()
        for _ in 0..<3_000 where ledger.evicted.filterGrowths.inBackground == 0 { usleep(1_000) }
        #expect(ledger.evicted.filterGrowths == (inBackground: 1, inPlace: 0))
        #expect(ledger.evicted.filterCapacity == 2 * 3_500)
        // Every evicted id is still known: retries are refused as such.
        for id in [10_000, 11_499, 20_000, 21_999, 30_000, 30_499] {
            #expect(try ledger.submitAndWait(EventBatch([transfer(UInt128(id), from: 1, to: 2, 1)])) == [.exists], "id \(id)")
        }
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
    }
}
