import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// IDTable carries idempotency: every id ever accepted must be found, with its
/// value, through any number of growths; ids never inserted must not be.
@Suite struct IDTableTests {
    /// An entry record packs its 56-bit fingerprint, kind and hold state
    /// into one word: a bucket of the entry table is 32 bytes (two to a cache
    /// line; 40 before, issue 13 session 13), and every field reads back.
    @Test func entryBucketsAre32BytesAndRecordsRoundTrip() {
        #expect(MemoryLayout<IDTable<EntryRecord>.Bucket>.stride == 32)
        for kind in [EntryKind.posted, .pending, .postPending, .voidPending] {
            for state in [EntryRecord.HoldState.notAHold, .open, .posted, .voided, .expired, .settledLongAgo] {
                var record = EntryRecord(fingerprint: .max, timestamp: 1_795_219_200_000_000_007, kind: kind, holdState: state)
                #expect(record.fingerprint == Fingerprint.mask && record.kind == kind && record.holdState == state)
                #expect(record.timestamp == 1_795_219_200_000_000_007)
                record.holdState = .expired
                #expect(record.holdState == .expired && record.kind == kind && record.fingerprint == Fingerprint.mask)
            }
        }
    }

    @Test(arguments: testSeeds(6))
    func agreesWithDictionaryThroughGrowthAndClusteredIDs(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var table = IDTable<UInt64>(capacity: 16, emptyValue: 0)
        var oracle: [UInt128: UInt64] = [:]
        for step in 0..<20_000 {
            // Mix random ids, sequential ids (clustered buckets) and ids that
            // differ only in the high half.
            let id: UInt128
            switch step % 3 {
            case 0: id = UInt128(rng.next()) << 64 | UInt128(rng.next()) | 1
            case 1: id = UInt128(step + 1)
            default: id = UInt128(step + 1) << 64
            }
            let value = rng.next()
            if oracle[id] == nil {
                table.insertNew(id, value)
            } else {
                table.set(id, value)
            }
            oracle[id] = value
            if step % 97 == 0 {
                let probe = UInt128(rng.next()) << 64 | UInt128(rng.next())
                #expect(table[probe] == oracle[probe], "seed \(seed) step \(step)")
            }
        }
        #expect(table.count == oracle.count)
        for (id, value) in oracle { #expect(table[id] == value, "seed \(seed) id \(id)") }
        // Load factor stays at or below 3/4.
        #expect(table.count * 4 <= table.buckets.count * 3)
    }

    @Test func updateChangesOnlyTheNamedID() {
        var table = IDTable<UInt64>(capacity: 16, emptyValue: 0)
        for id in 1...100 { table.insertNew(UInt128(id), UInt64(id)) }
        table.update(42) { $0 = 4_200 }
        #expect(table[42] == 4_200)
        #expect(table[41] == 41 && table[43] == 43)
        #expect(table[0xFFFF] == nil)
    }

    /// Id 0 marks empty buckets; looking it up must not find one (fuzzing
    /// found `accounts[-1]` through exactly that).
    @Test func idZeroIsNeverFound() {
        var table = IDTable<Int32>(capacity: 16, emptyValue: -1)
        #expect(table[0] == nil)
        for id in 1...10 { table.insertNew(UInt128(id), Int32(id)) }
        #expect(table[0] == nil)
    }
}

/// The entry table: sharded so that no single insert, and no batch of
/// inserts, rehashes more than a small part of it.
@Suite struct ShardedIDTableTests {
    @Test(arguments: testSeeds(3))
    func agreesWithDictionaryThroughGrowthAndRemoval(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var table = ShardedIDTable<UInt64>(capacity: 16, emptyValue: 0)
        var oracle: [UInt128: UInt64] = [:]
        for step in 0..<30_000 {
            let id: UInt128 = step % 2 == 0 ? UInt128(rng.next()) << 64 | UInt128(rng.next()) | 1 : UInt128(step + 1)
            let value = rng.next() | 1
            if oracle[id] == nil && step % 5 != 0 { table.insertNew(id, value) } else { table.set(id, value) }
            oracle[id] = value
            if step == 20_000 {
                let removed = table.removeAll { _, value in value % 3 == 0 }
                for id in removed { #expect(oracle.removeValue(forKey: id).map { $0 % 3 == 0 } == true) }
                #expect(!oracle.values.contains { $0 % 3 == 0 })
            }
        }
        #expect(table.count == oracle.count)
        for (id, value) in oracle { #expect(table[id] == value && table.contains(id)) }
        #expect(!table.contains(UInt128(rng.next()) << 64 | 7) && table[0] == nil)
        var seen = 0
        table.forEachEntry { low, high, value in
            seen += 1
            #expect(oracle[UInt128(high) << 64 | UInt128(low)] == value)
        }
        #expect(seen == oracle.count)
        #expect(table.count * 4 <= table.bucketCount * 3)
    }

    /// Staggered load limits: over any run of 8,192 inserts (one large
    /// batch) the doublings allocate well under the table's size, where a
    /// single table (or equal limits) would double all of it at once.
    @Test func doublingsAreSpreadOverInserts() {
        var rng = SeededRandom(seed: 9)
        var table = ShardedIDTable<UInt64>(capacity: 1 << 16, emptyValue: 0)
        var bucketsBefore = table.bucketCount
        var worstShare = 0.0
        for step in 1...1_500_000 {
            table.insertNew(UInt128(rng.next()) << 64 | UInt128(rng.next()) | 1, 1)
            if step % 8_192 == 0 {
                let buckets = table.bucketCount
                // Once the table is much larger than a batch.
                if step >= 300_000 { worstShare = max(worstShare, Double(buckets - bucketsBefore) / Double(buckets)) }
                bucketsBefore = buckets
            }
        }
        #expect(worstShare < 0.15, "a batch's inserts doubled \(worstShare) of the table")
    }

    /// While overlaid (a snapshot holds a copy), writes leave the shared
    /// shards untouched (no copy), the live table and the copy each keep
    /// their own contents, and merging back gives the live contents.
    @Test(arguments: testSeeds(3))
    func anOverlaidTableNeverWritesTheSharedShards(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var table = ShardedIDTable<UInt64>(capacity: 1 << 12, emptyValue: 0)
        var oracle: [UInt128: UInt64] = [:]
        func randomID() -> UInt128 { UInt128(rng.next()) << 64 | UInt128(rng.next()) | 1 }
        for _ in 0..<5_000 {
            let id = randomID()
            table.insertNew(id, rng.next() | 1)
            oracle[id] = table[id]
        }
        let captured = table
        let capturedOracle = oracle
        table.overlayAll()
        func storage(_ t: ShardedIDTable<UInt64>) -> [UnsafeRawPointer?] {
            t.shards.map { $0.buckets.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } }
        }
        let shared = storage(captured)
        let existing = Array(oracle.keys)
        var second: (table: ShardedIDTable<UInt64>, oracle: [UInt128: UInt64], storage: [UnsafeRawPointer?])?
        for step in 0..<6_000 {
            let id = step % 3 == 0 ? existing[Int(rng.next() % UInt64(existing.count))] : randomID()
            let value = rng.next() | 1
            if oracle[id] == nil && step % 2 == 0 { table.insertNew(id, value) } else { table.set(id, value) }
            oracle[id] = value
            if step == 3_000 { #expect(table.mergeOverlay(entriesMax: 1_000) == false) }  // merged while shared: those shards are copied, still right
            if step == 4_500 {
                // A second capture during the merge: every shard is overlaid again.
                second = (table, oracle, storage(table))
                table.overlayAll()
            }
        }
        if let second {
            #expect(storage(second.table) == second.storage, "the second copy's shards moved")
            #expect(second.table.count == second.oracle.count && second.oracle.allSatisfy { second.table[$0.key] == $0.value })
        }
        #expect(storage(captured) == shared, "the copy's shards moved")
        // After the second capture no shard of the live table is written.
        #expect(storage(table) == second?.storage, "an overlaid shard was written")
        for (t, o) in [(captured, capturedOracle), (table, oracle)] {
            #expect(t.count == o.count)
            var seen = 0
            t.forEachEntry { low, high, value in
                seen += 1
                #expect(o[UInt128(high) << 64 | UInt128(low)] == value)
            }
            #expect(seen == o.count)
            #expect(o.allSatisfy { t[$0.key] == $0.value && t.contains($0.key) })
        }
        while !table.mergeOverlay(entriesMax: 100) {}
        #expect(!table.isOverlaid && table.count == oracle.count)
        #expect(oracle.allSatisfy { table[$0.key] == $0.value })
        #expect(captured.count == capturedOracle.count && capturedOracle.allSatisfy { captured[$0.key] == $0.value })
    }
}
