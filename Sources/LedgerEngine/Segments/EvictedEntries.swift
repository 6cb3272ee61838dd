// Looks up the entry records the state machine's resident window evicted
// (StateMachine/ResidentWindow.swift) in the sealed months, for idempotency
// across all history without every id in memory.
//
// The apply thread asks for the ids of each batch that the window does not
// hold. A filter of every evicted id (a blocked bloom filter, 16 bits per
// id: about 0.05% false positives) answers "certainly new" for nearly all of
// them without I/O; the rest are looked up through each sealed month's own
// bloom filter and id table, and their records read to recompute the
// fingerprint. The filter is derived: rebuilt at open from the id tables of
// the months before the window.
//
// Threading: the filer (durability thread, or recovery) registers sealed
// months and reports filing progress; the apply thread looks up. A lookup
// may wait until the filer has filed past the window start (the groups
// before it may still be in flight), so that every evicted id is in a
// sealed month; the filer never waits for the apply thread, so this cannot
// deadlock. `fail` releases waiters when the engine stops.
public final class EvictedEntries: @unchecked Sendable {
    private let storage: any Storage
    private let layout: DataDirectoryLayout
    private let directoryID: [UInt8]
    private let lock = ConditionLock()
    private var sealed: [SealedMonth] = []
    private var readers: [UTCMonth: SealedMonthReader] = [:]
    /// Timestamp of the last event filed; lookups wait until it reaches
    /// their window start.
    private var filedThroughNs: UInt64 = 0
    private var failure: LedgerError?
    private var filter = EvictedIDFilter(capacity: 1 << 20)
    /// Lookups that went to the sealed months (filter positives), and those
    /// that found the id there (counters for tests and benchmarks).
    public private(set) var lookupsOnDisk = 0
    public private(set) var foundOnDisk = 0

    public init(storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8]) {
        self.storage = storage
        self.layout = layout
        self.directoryID = directoryID
    }

    /// Ids in the filter (an upper bound on the evicted ids: the filter is
    /// rebuilt at open from whole months).
    public var filteredIDCount: Int { lock.withLock { filter.count } }

    /// Bytes the filter holds.
    public var filterBytes: Int { lock.withLock { filter.bytes } }

    func register(_ month: SealedMonth) {
        lock.withLock {
            if let i = sealed.firstIndex(where: { $0.month == month.month }) { sealed[i] = month } else { sealed.append(month) }
            readers[month.month] = nil
        }
    }

    func filed(throughNs: UInt64) {
        lock.withLock {
            guard throughNs > filedThroughNs else { return }
            filedThroughNs = throughNs
            lock.broadcast()
        }
    }

    func fail(_ error: LedgerError) {
        lock.withLock {
            failure = error
            lock.broadcast()
        }
    }

    /// Adds ids the window just evicted. Growing the filter re-reads the
    /// ids of the sealed months (the filter cannot list its own); a failure
    /// there must stop the engine: a filter missing ids would let a
    /// duplicate through.
    public func addEvicted(_ ids: [UInt128]) throws {
        guard !ids.isEmpty else { return }
        try lock.withLock {
            if filter.count + ids.count > filter.capacity {
                var bigger = EvictedIDFilter(capacity: 2 * (filter.count + ids.count))
                for month in sealed { try index(month)?.forEachEntryID { bigger.insert($0) } }
                filter = bigger
            }
            for id in ids { filter.insert(id) }
        }
    }

    /// Fills the filter with every id of the sealed months entirely before
    /// `windowStartNs` (at open, after the state was restored).
    func rebuildFilter(before windowStartNs: UInt64) throws {
        try lock.withLock {
            let months = sealed.filter { $0.month.next.startNs <= windowStartNs }
            var count = 0
            for month in months { count += try index(month)?.entryCount ?? 0 }
            filter = EvictedIDFilter(capacity: max(1 << 20, 2 * count))
            for month in months { try index(month)?.forEachEntryID { filter.insert($0) } }
        }
    }

    /// The records of those `ids` that are entries in sealed months before
    /// `windowStartNs` (evicted from the window), as `coldEntries` takes them.
    public func lookup(_ ids: [UInt128], windowStartNs: UInt64) throws -> [UInt128: EntryRecord] {
        var found: [UInt128: EntryRecord] = [:]
        try lock.withLock {
            for id in ids where filter.mightContain(id) {
                while filedThroughNs < windowStartNs && failure == nil { lock.wait() }
                if let failure { throw failure }
                lookupsOnDisk += 1
                for month in sealed.reversed() where month.month.startNs < windowStartNs {
                    guard let reader = try reader(month), let offset = try reader.index.entryOffset(id) else { continue }
                    let (header, event) = try reader.readEvent(at: offset)
                    guard let record = event.withUnsafeBytes({ LedgerStateMachine.coldRecord(event: $0, timestamp: header.timestamp) }),
                        event.withUnsafeBytes({ _LE.u128($0, 16) }) == id
                    else {
                        throw LedgerError(
                            .corruption, "the index of \(month.month) points entry \(id) at a record that is not that entry",
                            path: layout.segmentIndexPath(month.month), offset: offset)
                    }
                    found[id] = record
                    foundOnDisk += 1
                    break
                }
            }
        }
        return found
    }

    private func reader(_ month: SealedMonth) throws -> SealedMonthReader? {
        if let cached = readers[month.month] { return cached }
        let reader = try SealedMonthReader(storage: storage, layout: layout, sealed: month, directoryID: directoryID)
        readers[month.month] = reader
        return reader
    }

    private func index(_ month: SealedMonth) throws -> MonthIndexFile? { try reader(month)?.index }
}

/// A blocked bloom filter in memory: 16 bits per id at capacity, 7 probes in
/// one 64-byte block (one cache line per query). Seeded per process: it is
/// never stored.
struct EvictedIDFilter {
    private var words: [UInt64]
    private let blockCount: Int
    let capacity: Int
    private(set) var count = 0
    private static let seed = UInt64.random(in: 1...UInt64.max)

    init(capacity: Int) {
        self.capacity = capacity
        blockCount = max(1, capacity * 16 / 512)
        words = [UInt64](repeating: 0, count: blockCount * 8)
    }

    var bytes: Int { words.count * 8 }

    @inline(__always)
    private static func probe(_ id: UInt128, blockCount: Int, _ body: (Int, UInt64) -> Bool) -> Bool {
        var h = (UInt64(truncatingIfNeeded: id) ^ Self.seed) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: id >> 64) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 31
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 29
        let base = Int(h % UInt64(blockCount)) * 8
        var g = h >> 32 | h << 32
        for _ in 0..<7 {
            g = g &* 0x94D0_49BB_1331_11EB &+ 0x2545_F491_4F6C_DD1D
            let bit = Int(g >> 55)  // 0..<512
            if !body(base + bit >> 6, 1 << UInt64(bit & 63)) { return false }
        }
        return true
    }

    mutating func insert(_ id: UInt128) {
        count += 1
        let blockCount = blockCount
        words.withUnsafeMutableBufferPointer { w in
            _ = Self.probe(id, blockCount: blockCount) { i, m in
                w[i] |= m
                return true
            }
        }
    }

    func mightContain(_ id: UInt128) -> Bool {
        words.withUnsafeBufferPointer { w in Self.probe(id, blockCount: blockCount) { i, m in w[i] & m != 0 } }
    }
}
