// The entry table (idempotency set): 256 IDTables side by side, the id's
// hash choosing one, each doubling on its own.
//
// Why: one table of millions of entries doubled in one step on the apply
// thread: allocate twice the buckets, rehash every entry. At 4M entries
// that stalled every request for about 0.7 s (perf timeline at batch
// 8,189 × 4 connections, Benchmarks/RESULTS.md, issue 13). Split in 256,
// a doubling moves 1/256 of the entries. Hashing spreads ids evenly, so
// equal load limits would make all shards double within a few groups of
// each other, which is the same stall; each shard's limit is therefore
// staggered between 36/64 and 48/64 of its buckets, spreading the
// doublings over a third of the growth between two sizes.
//
// Invariants: each shard's own (see IDTable); `count` is their sum; an id
// lives only in the shard its hash's top bits name.

@usableFromInline
struct ShardedIDTable<Value: Sendable>: Sendable {
    @usableFromInline static var shardBits: Int { 8 }
    @usableFromInline static var shardCount: Int { 1 << shardBits }

    @usableFromInline var shards: [IDTable<Value>]
    @usableFromInline private(set) var count = 0

    /// `capacity`: buckets in all (each shard at least 16); `emptyValue`
    /// fills empty buckets and is never returned.
    init(capacity: Int, emptyValue: Value) {
        let perShard = max(16, capacity / Self.shardCount)
        shards = (0..<Self.shardCount).map { shard in
            // 36/64 … 47.8/64 in 64 steps, so about 4 shards double together.
            IDTable(capacity: perShard, emptyValue: emptyValue, growAtLoadPer64: 36 + (shard % 64) * 12 / 64)
        }
    }

    var emptyValue: Value { shards[0].emptyValue }

    @inlinable @inline(__always)
    func shard(_ id: UInt128) -> Int { Int(truncatingIfNeeded: IDTable<Value>.hash(id, seed: shards[0].seed) >> (64 - UInt64(Self.shardBits))) }

    @inlinable
    func contains(_ id: UInt128) -> Bool { shards[shard(id)].find(id) != nil }

    @inlinable
    subscript(id: UInt128) -> Value? { shards[shard(id)][id] }

    /// Starts loading the bucket `id` hashes to, ahead of a lookup.
    @inlinable @inline(__always)
    func prefetch(_ id: UInt128) { shards[shard(id)].prefetch(id) }

    /// Sets the value for `id` (inserting it if new).
    @inlinable
    mutating func set(_ id: UInt128, _ value: Value) {
        let s = shard(id)
        let before = shards[s].count
        shards[s].set(id, value)
        count += shards[s].count - before
    }

    /// Inserts an id known to be absent (the caller just looked it up).
    @inlinable
    mutating func insertNew(_ id: UInt128, _ value: Value) {
        shards[shard(id)].insertNew(id, value)
        count += 1
    }

    /// Inserts `id` unless present, with one probe; false when it was present.
    @inlinable
    mutating func insertIfAbsent(_ id: UInt128, _ value: Value) -> Bool {
        guard shards[shard(id)].insertIfAbsent(id, value) else { return false }
        count += 1
        return true
    }

    /// Removes every entry for which `shouldRemove` holds; returns the
    /// removed ids (shard by shard).
    mutating func removeAll(where shouldRemove: (UInt128, Value) -> Bool) -> [UInt128] {
        var removed: [UInt128] = []
        for s in shards.indices {
            removed += shards[s].removeAll(minimumSizeAfterRemoval: (1 << 16) / Self.shardCount, where: shouldRemove)
        }
        count -= removed.count
        assert(count == shards.reduce(0) { $0 + $1.count }, "shard counts do not add up")
        return removed
    }

    /// Calls `body` with every (id, value), in table order.
    func forEachEntry(_ body: (_ low: UInt64, _ high: UInt64, Value) throws -> Void) rethrows {
        for table in shards {
            for bucket in table.buckets where !bucket.isEmpty { try body(bucket.low, bucket.high, bucket.value) }
        }
    }

    /// All buckets of all shards (for the load-limit check in tests).
    var bucketCount: Int { shards.reduce(0) { $0 + $1.buckets.count } }
}
