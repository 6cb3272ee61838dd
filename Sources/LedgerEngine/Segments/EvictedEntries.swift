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
    let storage: any Storage
    let layout: DataDirectoryLayout
    let directoryID: [UInt8]
    let lock = ConditionLock()
    var sealed: [SealedMonth] = []
    private var readers: [UTCMonth: SealedMonthReader] = [:]
    /// Month indexes alone: most lookups are the filter's false positives,
    /// which the id table answers. Opening a month's reader checks its
    /// segment's root (reads the whole month: 0.9 s per archived month at
    /// 50M entries, Benchmarks/RESULTS.md, issue 13), so that happens only
    /// once an id is found there and its record must be read.
    private var indexes: [UTCMonth: MonthIndexFile] = [:]
    /// Timestamp of the last event filed; lookups wait until it reaches
    /// their window start.
    var filedThroughNs: UInt64 = 0
    var failure: LedgerError?
    var filter = EvictedIDFilter(capacity: EvictedEntries.filterCapacityMin)
    /// The smallest filter (8 KiB): snapshots store it, so a small ledger's
    /// snapshot must not carry megabytes of zeros. It doubles as ids come.
    static let filterCapacityMin = 4_096
    /// Lookups that went to the sealed months (filter positives), and those
    /// that found the id there (counters for tests and benchmarks).
    public private(set) var lookupsOnDisk = 0
    public private(set) var foundOnDisk = 0
    /// The filer's writer of sealed months' indexes: a month's index is
    /// opened only once its write finished (SealedIndexWriter.swift).
    var indexWrites: SealedIndexWriter?
    /// The latest eviction of the one-month rule, kept while the month it
    /// ended may be unsealed or its index unwritten: lookups of its ids are
    /// answered from it instead of waiting for that month's seal and index
    /// (1–3 s at every month turn, Benchmarks/RESULTS.md, session 16).
    private var retired: RetiredEntries?
    /// Lookups answered from `retired` (a counter for tests).
    public private(set) var foundInRetired = 0
    /// A bigger filter being built on a thread of its own, and the ids
    /// evicted meanwhile (EvictedEntries+Growth.swift).
    var growth: FilterGrowth?
    /// Filters this size and up grow in the background (smaller ones in
    /// place: it costs less than a thread). Tests lower it.
    var backgroundGrowthCapacityMin = 1 << 20
    /// Bigger filters built in the background, and built in place.
    public internal(set) var filterGrowths = (inBackground: 0, inPlace: 0)
    /// Called on the growth's thread before it reads the sealed months (a
    /// test hook: holds the growth while more ids are evicted).
    var growthWillRead: (() -> Void)?

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

    func use(_ indexWrites: SealedIndexWriter) { lock.withLock { self.indexWrites = indexWrites } }

    /// Drops `retired` once the sealed months hold all of it: filing passed
    /// its end and no month's index is being written.
    private func releaseRetiredIfFiled() {
        guard let retired, filedThroughNs >= retired.beforeNs, indexWrites?.pendingMonth == nil else { return }
        self.retired = nil
    }

    /// A sealed month's index was written (on the writer's thread).
    func indexWritten() { lock.withLock { releaseRetiredIfFiled() } }

    /// Whether lookups are answered from a retired table now (for tests).
    var holdsRetiredEntries: Bool { lock.withLock { retired != nil } }

    func register(_ month: SealedMonth) {
        lock.withLock {
            if let i = sealed.firstIndex(where: { $0.month == month.month }) { sealed[i] = month } else { sealed.append(month) }
            readers[month.month] = nil
            indexes[month.month] = nil
        }
    }

    func filed(throughNs: UInt64) {
        lock.withLock {
            guard throughNs > filedThroughNs else { return }
            filedThroughNs = throughNs
            releaseRetiredIfFiled()
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
    /// `retiring`: the eviction's table, for lookups until its months are
    /// sealed and indexed (the one-month rule); replaces an earlier one.
    /// `windowStartNs`: the window's start after this eviction (every id
    /// evicted so far is in a month before it).
    func addEvicted(_ ids: [UInt128], retiring: RetiredEntries? = nil, windowStartNs: UInt64 = 0) throws {
        guard !ids.isEmpty else { return }
        try lock.withLock {
            if let failure { throw failure }
            if let retiring {
                // Kept without its id list (the filter takes the ids below).
                retired = RetiredEntries(ids: [], table: retiring.table, fromNs: retiring.fromNs, beforeNs: retiring.beforeNs)
                releaseRetiredIfFiled()
            }
            // A bigger filter on its way: wait for it rather than build a
            // second one here (it started when this one was 3/4 full).
            while filter.count + ids.count > filter.capacity && growth != nil && failure == nil { lock.wait() }
            if let failure { throw failure }
            if filter.count + ids.count > filter.capacity {
                filterGrowths.inPlace += 1
                // Sized for what goes in: every id of every sealed month (the
                // months still in the window too) and the new ones. Sized
                // from the filter's own count instead, a large sealed month
                // overfilled it, and the snapshot that stored it was refused
                // at open as corrupt (found by SealAndArchiveCrashTests).
                var monthIDs = 0
                for month in sealed { monthIDs += try index(month)?.entryCount ?? 0 }
                var bigger = EvictedIDFilter(capacity: 2 * (max(filter.count, monthIDs) + ids.count))
                for month in sealed { try index(month)?.forEachEntryID { bigger.insert($0) } }
                filter = bigger
            }
            for id in ids { filter.insert(id) }
            growth?.evictedMeanwhile.append(contentsOf: ids)
            if growth == nil && filter.capacity >= backgroundGrowthCapacityMin && filter.count * 4 > filter.capacity * 3 {
                startGrowth(windowStartNs: windowStartNs)
            }
        }
    }

    /// Ids the filter is sized for (`filteredIDCount` never exceeds it).
    var filterCapacity: Int { lock.withLock { filter.capacity } }

    /// Fills the filter with every id of the sealed months entirely before
    /// `windowStartNs` (at open, after the state was restored).
    func rebuildFilter(before windowStartNs: UInt64) throws {
        try lock.withLock {
            let months = sealed.filter { $0.month.next.startNs <= windowStartNs }
            var count = 0
            for month in months { count += try index(month)?.entryCount ?? 0 }
            filter = EvictedIDFilter(capacity: max(Self.filterCapacityMin, 2 * count))
            for month in months { try index(month)?.forEachEntryID { filter.insert($0) } }
        }
    }

    /// The filter as it is now, for a snapshot (a copy-on-write value: no
    /// copy unless ids are added while the snapshot is written); nil while
    /// it holds no id.
    func capturedFilter() -> EvictedIDFilter? {
        lock.withLock { filter.count > 0 ? filter : nil }
    }

    /// Takes the filter a snapshot stored instead of rebuilding it (at
    /// open): it holds every id evicted before the snapshot's state, and the
    /// replay after it adds the rest.
    func install(_ stored: EvictedIDFilter) {
        lock.withLock { filter = stored }
    }

    /// The first id of a sealed month entirely before `windowStartNs` that
    /// `stored` lacks although `isResident` says it was evicted: a snapshot's
    /// filter with such a false negative would let a duplicate through
    /// (`verify` checks every stored filter so). Nil when none.
    func firstIDMissing(from stored: EvictedIDFilter, before windowStartNs: UInt64, isResident: (UInt128) -> Bool) throws -> (UInt128, UTCMonth)? {
        try lock.withLock {
            for month in sealed where month.month.next.startNs <= windowStartNs {
                var missing: UInt128?
                try index(month)?.forEachEntryID { id in
                    if missing == nil && !stored.mightContain(id) && !isResident(id) { missing = id }
                }
                if let missing { return (missing, month.month) }
            }
            return nil
        }
    }

    /// The records of those `ids` that are entries in sealed months before
    /// `windowStartNs` (evicted from the window), as `coldEntries` takes them.
    public func lookup(_ ids: [UInt128], windowStartNs: UInt64) throws -> [UInt128: EntryRecord] {
        var found: [UInt128: EntryRecord] = [:]
        try lock.withLock {
            if let failure { throw failure }
            // Ids the latest eviction took out are answered from its table;
            // any other evicted id is in a month before that eviction's span,
            // sealed and indexed long ago: no wait for the month just sealed.
            let retired = self.retired.flatMap { $0.beforeNs == windowStartNs ? $0 : nil }
            let diskBeforeNs = retired?.fromNs ?? windowStartNs
            for id in ids where filter.mightContain(id) {
                if let record = retired?.record(id) {
                    found[id] = record
                    foundInRetired += 1
                    continue
                }
                while filedThroughNs < diskBeforeNs && failure == nil { lock.wait() }
                if let failure { throw failure }
                lookupsOnDisk += 1
                for month in sealed.reversed() where month.month.startNs < diskBeforeNs {
                    guard let offset = try index(month)?.entryOffset(id), let reader = try reader(month) else { continue }
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
        let reader = try SealedMonthReader(storage: storage, layout: layout, sealed: month, directoryID: directoryID, index: try index(month))
        readers[month.month] = reader
        return reader
    }

    /// The month's index (checked against the month's root by its header
    /// and its block CRCs), without opening the segment.
    private func index(_ month: SealedMonth) throws -> MonthIndexFile? {
        if let cached = indexes[month.month] { return cached }
        try indexWrites?.awaitWritten(month.month)
        let index = try MonthIndexFile(
            storage: storage, path: layout.segmentIndexPath(month.month), month: month.month, directoryID: directoryID, monthRoot: month.monthRoot)
        indexes[month.month] = index
        return index
    }
}
