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
// The overlay: a snapshot captures the table as a copy-on-write value and
// writes it out on its own thread. The next group of 8,189 random ids then
// wrote to nearly every shard, and the apply thread copied the whole table
// (hundreds of MB, most of it page faults) before answering anyone: the
// 0.5-0.9 s stall behind p99 at 4 × 8,189 (Benchmarks/RESULTS.md, issue 13).
// So after a capture (`overlayAll`) writes go to small per-shard overlay
// tables and reads look there first; once the snapshot has let go of the
// shards, `mergeOverlay` folds the overlays back, a bounded number of
// entries per group, writing in place. It is only a way to avoid the copy: a write to a shared
// shard would still be correct, just slow.
//
// Invariants: each shard's own (see IDTable); `count` is the number of
// distinct ids in shards and overlays; an id lives only in the shard (and
// overlay) its hash's top bits name; a shard below `mergedShards` has an
// empty overlay.

@usableFromInline
struct ShardedIDTable<Value: Sendable>: Sendable {
    @usableFromInline static var shardBits: Int { 8 }
    @usableFromInline static var shardCount: Int { 1 << shardBits }

    @usableFromInline var shards: [IDTable<Value>]
    @usableFromInline private(set) var count = 0
    /// One per shard while overlaid; empty otherwise.
    @usableFromInline private(set) var overlays: [IDTable<Value>] = []
    /// Shards whose overlay is merged back already.
    @usableFromInline private(set) var mergedShards = 0

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

    var isOverlaid: Bool { !overlays.isEmpty }

    /// Whether shard `s` takes its writes in its overlay.
    @inlinable @inline(__always)
    func overlaid(_ s: Int) -> Bool { !overlays.isEmpty && s >= mergedShards }

    @inlinable
    func contains(_ id: UInt128) -> Bool {
        let s = shard(id)
        return (overlaid(s) && overlays[s].find(id) != nil) || shards[s].find(id) != nil
    }

    @inlinable
    subscript(id: UInt128) -> Value? {
        let s = shard(id)
        if overlaid(s), let value = overlays[s][id] { return value }
        return shards[s][id]
    }

    /// Starts loading the bucket `id` hashes to, ahead of a lookup.
    @inlinable @inline(__always)
    func prefetch(_ id: UInt128) { shards[shard(id)].prefetch(id) }

    /// Sets the value for `id` (inserting it if new).
    @inlinable
    mutating func set(_ id: UInt128, _ value: Value) {
        let s = shard(id)
        if overlaid(s) {
            if overlays[s].find(id) == nil && shards[s].find(id) == nil { count += 1 }
            overlays[s].set(id, value)
            return
        }
        let before = shards[s].count
        shards[s].set(id, value)
        count += shards[s].count - before
    }

    /// Inserts an id known to be absent (the caller just looked it up).
    @inlinable
    mutating func insertNew(_ id: UInt128, _ value: Value) {
        let s = shard(id)
        if overlaid(s) { overlays[s].insertNew(id, value) } else { shards[s].insertNew(id, value) }
        count += 1
    }

    /// Inserts `id` unless present, with one probe; false when it was present.
    /// Only while loading (never overlaid).
    @inlinable
    mutating func insertIfAbsent(_ id: UInt128, _ value: Value) -> Bool {
        precondition(overlays.isEmpty, "insertIfAbsent while overlaid")
        guard shards[shard(id)].insertIfAbsent(id, value) else { return false }
        count += 1
        return true
    }

    /// Removes every entry for which `shouldRemove` holds; returns the
    /// removed ids (shard by shard).
    /// Merges the overlays first (a month boundary during a snapshot write
    /// may copy the shards the snapshot still holds: rare, and correct).
    mutating func removeAll(where shouldRemove: (UInt128, Value) -> Bool) -> [UInt128] {
        _ = mergeOverlay(entriesMax: .max)
        var removed: [UInt128] = []
        for s in shards.indices {
            removed += shards[s].removeAll(minimumSizeAfterRemoval: (1 << 16) / Self.shardCount, where: shouldRemove)
        }
        count -= removed.count
        assert(count == shards.reduce(0) { $0 + $1.count }, "shard counts do not add up")
        return removed
    }

    /// Calls `body` with every (id, value), shard by shard; in an overlaid
    /// shard, its base's ids the overlay does not hold, then the overlay's.
    func forEachEntry(_ body: (_ low: UInt64, _ high: UInt64, Value) throws -> Void) rethrows {
        for (s, table) in shards.enumerated() {
            let overlay = overlaid(s) ? overlays[s] : nil
            for bucket in table.buckets where !bucket.isEmpty {
                if let overlay, overlay.find(UInt128(bucket.high) << 64 | UInt128(bucket.low)) != nil { continue }
                try body(bucket.low, bucket.high, bucket.value)
            }
            for bucket in overlay?.buckets ?? [] where !bucket.isEmpty { try body(bucket.low, bucket.high, bucket.value) }
        }
    }

    /// A snapshot (or an online verify) has just taken a copy of this
    /// table: from now on every write goes to the overlays, so the shards
    /// stay shared instead of copied. Already overlaid (a merge under way):
    /// the merged shards are overlaid again, and the overlays the copy now
    /// shares are small, so copying one on its next write costs little.
    mutating func overlayAll() {
        if overlays.isEmpty { overlays = (0..<Self.shardCount).map { _ in IDTable(capacity: 16, emptyValue: emptyValue) } }
        mergedShards = 0
    }

    /// Folds overlays back into their shards (in place, once no copy shares
    /// them), whole shards, until at least `entriesMax` entries have moved
    /// or none is left; true when none is left. Bounded so that no one
    /// group pays for a long snapshot's worth of entries.
    mutating func mergeOverlay(entriesMax: Int) -> Bool {
        precondition(entriesMax > 0, "entriesMax \(entriesMax)")
        guard !overlays.isEmpty else { return true }
        var moved = 0
        while mergedShards < Self.shardCount && moved < entriesMax {
            let s = mergedShards
            for bucket in overlays[s].buckets where !bucket.isEmpty { shards[s].set(UInt128(bucket.high) << 64 | UInt128(bucket.low), bucket.value) }
            moved += overlays[s].count
            overlays[s] = IDTable(capacity: 16, emptyValue: emptyValue)
            mergedShards += 1
        }
        if mergedShards == Self.shardCount {
            overlays = []
            mergedShards = 0
            assert(count == shards.reduce(0) { $0 + $1.count }, "shard counts do not add up after the merge")
        }
        return overlays.isEmpty
    }

    /// All buckets of all shards (for the load-limit check in tests).
    var bucketCount: Int { shards.reduce(0) { $0 + $1.buckets.count } }
}
