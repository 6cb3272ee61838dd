import Foundation
import LedgerModel
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Filing's prefetch cursor (Segments/FilingPrefetch.swift): it names the
/// events `2 × distance − 1` and `distance − 1` ahead of the one about to be
/// filed, over a batch's events and over segment records alike, and over
/// bytes that frame no event it stays inside the buffer and does not trap.
@Suite struct FilingLookaheadTests {
    static let d = FilingLookahead.distance

    /// Offsets (in `buffer`) of the events each call names: the warm-up's,
    /// then one step per later event.
    static func walk(_ lookahead: inout FilingLookahead, _ buffer: UnsafeRawBufferPointer, events: Int) -> (
        warmUpFar: [Int], warmUpNear: [Int], far: [Int?], near: [Int?]
    ) {
        func offset(_ p: UnsafeRawBufferPointer?) -> Int? {
            guard let p else { return nil }
            let start = p.baseAddress! - buffer.baseAddress!
            #expect(start >= 0 && start + p.count <= buffer.count, "a named event lies inside the buffer")
            return start
        }
        var warmUpFar: [Int] = []
        var warmUpNear: [Int] = []
        lookahead.restart(at: buffer) { step in
            if let far = offset(step.far) { warmUpFar.append(far) }
            if let near = offset(step.near) { warmUpNear.append(near) }
        }
        var far: [Int?] = []
        var near: [Int?] = []
        for _ in 1..<max(events, 1) {
            let step = lookahead.advance()
            far.append(offset(step.far))
            near.append(offset(step.near))
        }
        return (warmUpFar, warmUpNear, far, near)
    }

    static func check(_ starts: [Int], _ walked: (warmUpFar: [Int], warmUpNear: [Int], far: [Int?], near: [Int?]), _ context: String) {
        let n = starts.count
        #expect(walked.warmUpFar == Array(starts.prefix(2 * d)), "\(context): warm-up buckets of the first 2 × distance")
        #expect(walked.warmUpNear == Array(starts.prefix(d)), "\(context): warm-up records of the first distance")
        for i in 1..<n {
            let far = i - 1 + 2 * d
            let near = i - 1 + d
            #expect(walked.far[i - 1] == (far < n ? starts[far] : nil), "\(context): step \(i) far")
            #expect(walked.near[i - 1] == (near < n ? starts[near] : nil), "\(context): step \(i) near")
        }
    }

    @Test func namesTheEventsAheadOfABatch() throws {
        // Entries of 2 and of 3 postings and accounts: events of three sizes.
        var events: [Event] = []
        for i in 0..<40 {
            switch i % 3 {
            case 0: events.append(transfer(UInt128(1_000 + i), from: 1, to: 2, 5))
            case 1: events.append(usd(UInt128(100 + i)))
            default:
                events.append(
                    .createEntry(NewEntry(id: UInt128(1_000 + i), kind: .posted, postings: [.debit(1, 2), .credit(2, 1), .credit(3, 1)])))
            }
        }
        let batch = EventBatch(events)
        var starts: [Int] = []
        var offset = 0
        try batch.bytes.withUnsafeBytes { p in
            while offset < p.count {
                starts.append(offset)
                offset += try #require(EventBatchReader.eventSize(p, at: offset))
            }
            #expect(starts.count == 40)
            var lookahead = FilingLookahead.batchEvents()
            Self.check(starts, Self.walk(&lookahead, p, events: starts.count), "batch")
            // Again over a second batch: nothing of the first remains.
            Self.check(starts, Self.walk(&lookahead, p, events: starts.count), "second batch")
            // Cleared, it names nothing (it keeps no pointer into the batch).
            lookahead.clear()
            let step = lookahead.advance()
            #expect(step.far == nil && step.near == nil)
        }
    }

    @Test func namesTheEventsAheadInASegment() throws {
        var records: [UInt8] = []
        var starts: [Int] = []
        for i in 0..<30 {
            let event = EventBatch([transfer(UInt128(5_000 + i), from: 1, to: 2, UInt128(i + 1))]).bytes
            var record = [UInt8](repeating: 0, count: SegmentFormat.recordHeaderBytes + event.count)
            event.withUnsafeBytes { e in
                record.withUnsafeMutableBytes {
                    _ = SegmentRecordHeader.encode(event: e, lsn: 7, timestamp: UInt64(100 + i), seed: 1, into: $0)
                }
            }
            starts.append(records.count + SegmentFormat.recordHeaderBytes)
            records += record
        }
        records.withUnsafeBytes { p in
            var lookahead = FilingLookahead.segmentRecords()
            Self.check(starts, Self.walk(&lookahead, p, events: starts.count), "segment")
        }
    }

    /// Bytes that frame no event (the scan reads ahead of its checks).
    @Test(arguments: testSeeds(8)) func staysInsideArbitraryBytes(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        for _ in 0..<200 {
            let count = Int.random(in: 0...600, using: &rng)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Often a plausible kind byte or a small length first.
            if count > 0 && Bool.random(using: &rng) { bytes[0] = UInt8.random(in: 0...4, using: &rng) }
            bytes.withUnsafeBytes { p in
                var batch = FilingLookahead.batchEvents()
                _ = Self.walk(&batch, p, events: 40)
                var segment = FilingLookahead.segmentRecords()
                _ = Self.walk(&segment, p, events: 40)
            }
        }
    }
}
