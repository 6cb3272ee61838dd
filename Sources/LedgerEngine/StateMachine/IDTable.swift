// A hash map from non-zero 128-bit ids to values: the idempotency set and the
// account directory. Open addressing with linear probing over parallel arrays.
//
// Why not Dictionary: SipHash over UInt128 keys and the resize copy were 30%
// of the batch benchmark's profile (perf, see Benchmarks/RESULTS.md). Ids are
// client-chosen, so the hash is keyed with a per-process random seed: a client
// cannot pick ids that collide. Iteration order is never used, so the seed
// cannot make replay nondeterministic.
//
// Invariants: capacity is a power of two; count ≤ capacity × 3/4 (or the
// load limit given); id 0 marks
// an empty bucket (0 is never a valid id: `idMustNotBeZero`). There is no
// removal (ids are unique forever).
import CPrefetch

@usableFromInline
struct IDTable<Value: Sendable>: Sendable {
    /// Key and value side by side, so a probe touches one cache line.
    @usableFromInline
    struct Bucket: Sendable {
        @usableFromInline var low: UInt64
        @usableFromInline var high: UInt64
        @usableFromInline var value: Value
        @inlinable init(low: UInt64, high: UInt64, value: Value) {
            self.low = low
            self.high = high
            self.value = value
        }
        @inlinable var isEmpty: Bool { low == 0 && high == 0 }
    }

    @usableFromInline var buckets: [Bucket]
    @usableFromInline var mask: Int
    @usableFromInline private(set) var count = 0
    @usableFromInline let seed: UInt64
    @usableFromInline let emptyValue: Value
    /// The table doubles when an insert would pass this load, in 64ths
    /// (48: 3/4). ShardedIDTable staggers it across its shards.
    @usableFromInline let growAtLoadPer64: Int

    /// `emptyValue` fills empty buckets; it is never returned.
    init(capacity: Int = 1024, emptyValue: Value, growAtLoadPer64: Int = 48) {
        precondition(growAtLoadPer64 >= 16 && growAtLoadPer64 <= 48, "load limit \(growAtLoadPer64)/64")
        var size = 16
        while size < capacity { size *= 2 }
        self.emptyValue = emptyValue
        self.growAtLoadPer64 = growAtLoadPer64
        buckets = [Bucket](repeating: Bucket(low: 0, high: 0, value: emptyValue), count: size)
        mask = size - 1
        seed = _processSeed
    }

    /// The keyed 64-bit hash of `id`: its low bits pick a bucket, its high
    /// bits a ShardedIDTable shard.
    @inlinable @inline(__always)
    static func hash(_ id: UInt128, seed: UInt64) -> UInt64 {
        var h = (UInt64(truncatingIfNeeded: id) ^ seed) &* 0x9E37_79B9_7F4A_7C15
        h ^= UInt64(truncatingIfNeeded: id >> 64) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return h
    }

    @inlinable @inline(__always)
    func bucket(_ id: UInt128) -> Int { Int(truncatingIfNeeded: Self.hash(id, seed: seed)) & mask }

    @inlinable @inline(__always)
    var isFull: Bool { (count + 1) * 64 > (mask + 1) * growAtLoadPer64 }

    /// The bucket holding `id`, or nil. Id 0 is never present: it would
    /// match the first empty bucket (found by fuzzing: an entry posting to
    /// account 0 trapped the state machine).
    @inlinable
    func find(_ id: UInt128) -> Int? {
        guard id != 0 else { return nil }
        let lo = UInt64(truncatingIfNeeded: id)
        let hi = UInt64(truncatingIfNeeded: id >> 64)
        var index = bucket(id)
        return buckets.withUnsafeBufferPointer { b in
            while true {
                if b[index].low == lo && b[index].high == hi { return index }
                if b[index].isEmpty { return nil }
                index = (index + 1) & mask
            }
        }
    }

    @inlinable
    subscript(id: UInt128) -> Value? {
        find(id).map { buckets[$0].value }
    }

    /// Starts loading the bucket `id` hashes to, ahead of a `find`.
    @inlinable @inline(__always)
    func prefetch(_ id: UInt128) {
        buckets.withUnsafeBufferPointer { ledger_prefetch_for_write($0.baseAddress! + bucket(id)) }
    }

    /// Sets the value for `id` (inserting it if new).
    @inlinable
    mutating func set(_ id: UInt128, _ value: Value) {
        if let index = find(id) {
            buckets[index].value = value
        } else {
            insertNew(id, value)
        }
    }

    /// Inserts an id known to be absent (the caller just looked it up).
    @inlinable
    mutating func insertNew(_ id: UInt128, _ value: Value) {
        precondition(id != 0, "id 0 is reserved for empty buckets")
        assert(find(id) == nil, "insertNew of an existing id")
        if isFull { grow() }
        place(Bucket(low: UInt64(truncatingIfNeeded: id), high: UInt64(truncatingIfNeeded: id >> 64), value: value))
        count += 1
    }

    /// Inserts `id` unless present, with one probe; false when it was present.
    @inlinable
    mutating func insertIfAbsent(_ id: UInt128, _ value: Value) -> Bool {
        precondition(id != 0, "id 0 is reserved for empty buckets")
        if isFull { grow() }
        let lo = UInt64(truncatingIfNeeded: id)
        let hi = UInt64(truncatingIfNeeded: id >> 64)
        var index = bucket(id)
        while !buckets[index].isEmpty {
            if buckets[index].low == lo && buckets[index].high == hi { return false }
            index = (index + 1) & mask
        }
        buckets[index] = Bucket(low: lo, high: hi, value: value)
        count += 1
        return true
    }

    @inlinable
    mutating func place(_ entry: Bucket) {
        var index = bucket(UInt128(entry.high) << 64 | UInt128(entry.low))
        while !buckets[index].isEmpty { index = (index + 1) & mask }
        buckets[index] = entry
    }

    /// Updates an existing value in place.
    @inlinable
    mutating func update(_ id: UInt128, _ body: (inout Value) -> Void) {
        guard let index = find(id) else { preconditionFailure("update of a missing id") }
        body(&buckets[index].value)
    }

    /// Removes every entry for which `shouldRemove` holds, rebuilding the
    /// table at a size for what remains (at least `minimumSizeAfterRemoval`
    /// buckets); returns the removed ids.
    mutating func removeAll(minimumSizeAfterRemoval: Int = 1 << 16, where shouldRemove: (UInt128, Value) -> Bool) -> [UInt128] {
        var removed: [UInt128] = []
        var kept: [Bucket] = []
        for entry in buckets where !entry.isEmpty {
            let id = UInt128(entry.high) << 64 | UInt128(entry.low)
            if shouldRemove(id, entry.value) { removed.append(id) } else { kept.append(entry) }
        }
        guard !removed.isEmpty else { return [] }
        var size = 16
        while size * growAtLoadPer64 < kept.count * 64 + 64 { size *= 2 }
        size = max(size, minimumSizeAfterRemoval)
        buckets = [Bucket](repeating: Bucket(low: 0, high: 0, value: emptyValue), count: size)
        mask = size - 1
        for entry in kept { place(entry) }
        count = kept.count
        return removed
    }

    @usableFromInline
    mutating func grow() {
        let old = buckets
        buckets = [Bucket](repeating: Bucket(low: 0, high: 0, value: emptyValue), count: (mask + 1) * 2)
        mask = buckets.count - 1
        for entry in old where !entry.isEmpty { place(entry) }
    }
}

/// One random seed per process for `IDTable` hashing.
let _processSeed: UInt64 = UInt64.random(in: 1...UInt64.max)
