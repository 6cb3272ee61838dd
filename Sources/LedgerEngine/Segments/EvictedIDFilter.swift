// The filter of every entry id evicted from the resident window
// (EvictedEntries.swift): a blocked bloom filter, 16 bits per id at
// capacity, 7 probes in one 64-byte block (one cache line per query).
//
// It answers "certainly not evicted" for nearly every new id, so a batch
// reads the sealed months only for its few positives. A false negative
// would let a duplicate id through, so the filter is only ever grown or
// replaced by one holding at least the same ids, never shrunk.
//
// Snapshots store it (Specs/snapshot-format.md, version 4, "Evicted-id
// filter"): rebuilding it at open from the sealed months' id tables cost a
// cache miss per id, about a third of a restart at 50M entries. The probe
// sequence below is therefore part of the format: the spec describes it
// bit for bit, and `generate.py` computes the vector's bits independently.
struct EvictedIDFilter: Sendable, Equatable {
    private(set) var words: [UInt64]
    let blockCount: Int
    let capacity: Int
    /// Mixed into every hash; random per new filter, stored with it.
    let seed: UInt64
    private(set) var count = 0
    static let bitsPerID = 16
    static let blockBytes = 64
    static let probesPerID = 7

    init(capacity: Int, seed: UInt64 = UInt64.random(in: 1...UInt64.max)) {
        precondition(capacity > 0, "filter capacity")
        self.capacity = capacity
        self.seed = seed
        blockCount = Self.blockCount(capacity: capacity)
        words = [UInt64](repeating: 0, count: blockCount * 8)
    }

    /// A filter as a snapshot stored it; nil when the parts disagree.
    init?(seed: UInt64, capacity: Int, count: Int, words: [UInt64]) {
        guard capacity > 0, count >= 0, count <= capacity, words.count == 8 * Self.blockCount(capacity: capacity) else { return nil }
        self.seed = seed
        self.capacity = capacity
        self.count = count
        self.words = words
        blockCount = words.count / 8
    }

    var bytes: Int { words.count * 8 }

    static func blockCount(capacity: Int) -> Int { max(1, capacity * bitsPerID / (blockBytes * 8)) }

    @inline(__always)
    private static func probe(_ id: UInt128, seed: UInt64, blockCount: Int, _ body: (Int, UInt64) -> Bool) -> Bool {
        var h = (UInt64(truncatingIfNeeded: id) ^ seed) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: id >> 64) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 31
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 29
        let base = Int(h % UInt64(blockCount)) * 8
        var g = h >> 32 | h << 32
        for _ in 0..<Self.probesPerID {
            g = g &* 0x94D0_49BB_1331_11EB &+ 0x2545_F491_4F6C_DD1D
            let bit = Int(g >> 55)  // 0..<512
            if !body(base + bit >> 6, 1 << UInt64(bit & 63)) { return false }
        }
        return true
    }

    mutating func insert(_ id: UInt128) {
        // A snapshot stores `count` beside `capacity` and refuses a filter
        // holding more: the caller sizes the filter for what it inserts.
        precondition(count < capacity, "filter of \(capacity) ids overfilled")
        count += 1
        let (seed, blockCount) = (seed, blockCount)
        words.withUnsafeMutableBufferPointer { w in
            _ = Self.probe(id, seed: seed, blockCount: blockCount) { i, m in
                w[i] |= m
                return true
            }
        }
    }

    func mightContain(_ id: UInt128) -> Bool {
        words.withUnsafeBufferPointer { w in Self.probe(id, seed: seed, blockCount: blockCount) { i, m in w[i] & m != 0 } }
    }
}
