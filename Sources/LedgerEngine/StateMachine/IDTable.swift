// A hash map from non-zero 128-bit ids to values: the idempotency set and the
// account directory. Open addressing with linear probing over parallel arrays.
//
// Why not Dictionary: SipHash over UInt128 keys and the resize copy were 30%
// of the batch benchmark's profile (perf, see Benchmarks/RESULTS.md). Ids are
// client-chosen, so the hash is keyed with a per-process random seed: a client
// cannot pick ids that collide. Iteration order is never used, so the seed
// cannot make replay nondeterministic.
//
// Invariants: capacity is a power of two; count ≤ capacity × 3/4; id 0 marks
// an empty bucket (0 is never a valid id: `idMustNotBeZero`). There is no
// removal (ids are unique forever).
@usableFromInline
struct IDTable<Value: Sendable>: Sendable {
    @usableFromInline var low: [UInt64]
    @usableFromInline var high: [UInt64]
    @usableFromInline var values: [Value?]
    @usableFromInline var mask: Int
    @usableFromInline private(set) var count = 0
    @usableFromInline let seed: UInt64

    @usableFromInline static var processSeed: UInt64 { _processSeed }

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity { size *= 2 }
        low = [UInt64](repeating: 0, count: size)
        high = [UInt64](repeating: 0, count: size)
        values = [Value?](repeating: nil, count: size)
        mask = size - 1
        seed = Self.processSeed
    }

    @inlinable @inline(__always)
    func bucket(_ id: UInt128) -> Int {
        var h = (UInt64(truncatingIfNeeded: id) ^ seed) &* 0x9E37_79B9_7F4A_7C15
        h ^= UInt64(truncatingIfNeeded: id >> 64) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return Int(truncatingIfNeeded: h) & mask
    }

    @inlinable
    func find(_ id: UInt128) -> Int? {
        let lo = UInt64(truncatingIfNeeded: id)
        let hi = UInt64(truncatingIfNeeded: id >> 64)
        var index = bucket(id)
        while true {
            if low[index] == lo && high[index] == hi { return index }
            if low[index] == 0 && high[index] == 0 { return nil }
            index = (index + 1) & mask
        }
    }

    @inlinable
    subscript(id: UInt128) -> Value? {
        get { find(id).flatMap { values[$0] } }
    }

    /// Sets the value for `id` (inserting it if new).
    @inlinable
    mutating func set(_ id: UInt128, _ value: Value) {
        precondition(id != 0, "id 0 is reserved for empty buckets")
        if let index = find(id) {
            values[index] = value
            return
        }
        if (count + 1) * 4 > (mask + 1) * 3 { grow() }
        var index = bucket(id)
        while low[index] != 0 || high[index] != 0 { index = (index + 1) & mask }
        low[index] = UInt64(truncatingIfNeeded: id)
        high[index] = UInt64(truncatingIfNeeded: id >> 64)
        values[index] = value
        count += 1
    }

    /// Updates an existing value in place.
    @inlinable
    mutating func update(_ id: UInt128, _ body: (inout Value) -> Void) {
        guard let index = find(id) else { preconditionFailure("update of a missing id") }
        body(&values[index]!)
    }

    @usableFromInline
    mutating func grow() {
        let oldLow = low
        let oldHigh = high
        let oldValues = values
        let size = (mask + 1) * 2
        low = [UInt64](repeating: 0, count: size)
        high = [UInt64](repeating: 0, count: size)
        values = [Value?](repeating: nil, count: size)
        mask = size - 1
        for i in 0..<oldLow.count where oldLow[i] != 0 || oldHigh[i] != 0 {
            let id = UInt128(oldHigh[i]) << 64 | UInt128(oldLow[i])
            var index = bucket(id)
            while low[index] != 0 || high[index] != 0 { index = (index + 1) & mask }
            low[index] = oldLow[i]
            high[index] = oldHigh[i]
            values[index] = oldValues[i]
        }
    }
}

/// One random seed per process for `IDTable` hashing.
let _processSeed: UInt64 = UInt64.random(in: 1...UInt64.max)
