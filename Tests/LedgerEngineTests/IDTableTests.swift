import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// IDTable carries idempotency: every id ever accepted must be found, with its
/// value, through any number of growths; ids never inserted must not be.
@Suite struct IDTableTests {
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
