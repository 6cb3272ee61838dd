// The double-entry state machine: pure and deterministic. `apply` takes an
// encoded batch and the batch's base timestamp and returns one result per
// event. It performs no I/O and reads no clock, so replaying the log through
// it rebuilds exactly the same state (the log is the truth).
//
// Invariants (checked by `invariantViolations()` in tests and `verify`):
// - per ledger, the sum of `debitsPosted` equals the sum of `creditsPosted`,
//   and likewise for the pending balances;
// - every account's pending balances equal the sum of its open holds;
// - every account with an overdraft flag satisfies it;
// - a failed event changes nothing.

public struct EntryRecord: Sendable, Hashable {
    public enum HoldState: UInt8, Sendable {
        case notAHold = 0
        case open = 1
        case posted = 2
        case voided = 3
        case expired = 4
        /// A pending entry evicted from memory (ResidentWindow.swift): its
        /// hold was settled or expired before the resident window. Only in
        /// `coldEntries`, never stored.
        case settledLongAgo = 5
    }
    /// The fingerprint (bits 0–55), the kind's raw value (56–59) and the
    /// hold state (60–63): with the timestamp, 16 bytes, so the entry
    /// table's bucket (id and record) is 32 bytes, two to a cache line.
    @usableFromInline var packed: UInt64
    public var timestamp: UInt64

    /// `fingerprint` is masked to its 56 bits (`Fingerprint.mask`); a kind
    /// or hold state out of range (a damaged snapshot, refused right after)
    /// is cut to 4 bits, never trapped on.
    @inlinable
    public init(fingerprint: UInt64, timestamp: UInt64, kind: EntryKind, holdState: HoldState) {
        packed = fingerprint & Fingerprint.mask | UInt64(kind.rawValue & 0xF) << 56 | UInt64(holdState.rawValue & 0xF) << 60
        self.timestamp = timestamp
    }

    @inlinable public var fingerprint: UInt64 { packed & Fingerprint.mask }
    @inlinable public var kind: EntryKind { EntryKind(rawValue: UInt8(truncatingIfNeeded: packed >> 56) & 0xF) }
    @inlinable public var holdState: HoldState {
        get { HoldState(rawValue: UInt8(truncatingIfNeeded: packed >> 60)) ?? .notAHold }
        set { packed = packed & ~(0xF << 60) | UInt64(newValue.rawValue) << 60 }
    }
}

@usableFromInline
struct HoldPosting: Sendable, Hashable {
    var slot: Int32
    var side: Side
    var amount: UInt128
}

@usableFromInline
struct OpenHold: Sendable, Hashable {
    var expiresAtNs: UInt64  // 0: never
    var postings: [HoldPosting]
}

public struct LedgerStateMachine: Sendable {
    public internal(set) var accounts: [Account] = []
    @usableFromInline var accountSlotByID = IDTable<Int32>(emptyValue: -1)
    @usableFromInline var entries: ShardedIDTable<EntryRecord>
    @usableFromInline var openHolds: [UInt128: OpenHold] = [:]
    @usableFromInline var expiries = ExpiryHeap()
    /// Timestamp of the last event applied (0 before the first batch).
    public internal(set) var lastTimestamp: UInt64 = 0
    /// Timestamp of the last event that succeeded (and so was filed into a
    /// segment); 0 before the first. Saved in snapshots.
    public internal(set) var lastAppliedTimestamp: UInt64 = 0
    /// Whether entry records older than the resident window are evicted
    /// (ResidentWindow.swift). Off for a machine whose owner cannot look
    /// evicted ids up; `evictOldEntries(windowMonths:)` turns it on.
    public internal(set) var evictsOldEntries = false
    /// The window's rule, fixed per data directory (`ledger.meta`): 1, the
    /// month of the last event that succeeded; 2, that month and the one
    /// before (the rule of directories made before meta version 2).
    public internal(set) var residentWindowMonths = 2
    /// Evicted entries the current batch refers to, found by the engine in
    /// the sealed months before `apply` (`coldCandidates`); empty otherwise.
    @usableFromInline var coldEntries: [UInt128: EntryRecord] = [:]
    /// Entry records with an earlier timestamp (and no open hold) were
    /// evicted (ResidentWindow.swift); 0 when none were. Saved in snapshots.
    public internal(set) var residentSinceNs: UInt64 = 0
    /// A batch ending before this cannot cross into a new month of the
    /// window (a cache of the calendar, not saved: 0 means "check").
    @usableFromInline var noEvictionBeforeNs: UInt64 = 0

    /// Slots changed since the last `takeChangedSlots`, each once.
    @usableFromInline var changedSlots: [Int32] = []
    @usableFromInline var slotIsChanged: [Bool] = []

    // Scratch space reused by every entry so the hot path does not allocate.
    @usableFromInline var scratchSlots: [Int32] = []
    @usableFromInline var scratchLedgers: [LedgerSum] = []
    @usableFromInline var scratchTouched: [Account] = []
    @usableFromInline var scratchTouchedSlots: [Int32] = []
    /// Per ledger, the sum of its accounts' posted debits (equal to their
    /// posted credits: entries balance per ledger) and pending debits;
    /// bounded by `UInt128.max` (StateMachine+LedgerTotals.swift).
    @usableFromInline var ledgerTotals: [UInt32: LedgerTotal] = [:]
    @usableFromInline var scratchLedgerTotals: [(ledger: UInt32, total: LedgerTotal)] = []

    @usableFromInline
    struct LedgerSum: Sendable {
        var ledger: UInt32
        var debits: UInt128
        var credits: UInt128
    }

    /// `entryCapacity`: the idempotency table's initial buckets (it grows);
    /// the default suits a server, tools that apply a few events (fuzz
    /// targets) pass less.
    public init(entryCapacity: Int = 1 << 16) {
        precondition(entryCapacity >= 1 && entryCapacity <= 1 << 30, "entryCapacity \(entryCapacity)")
        entries = ShardedIDTable(capacity: entryCapacity, emptyValue: EntryRecord(fingerprint: 0, timestamp: 0, kind: .posted, holdState: .notAHold))
        scratchSlots.reserveCapacity(Limits.entryPostingsMax)
        scratchLedgers.reserveCapacity(Limits.entryPostingsMax)
        scratchTouched.reserveCapacity(Limits.entryPostingsMax)
        scratchTouchedSlots.reserveCapacity(Limits.entryPostingsMax)
    }

    public var accountCount: Int { accounts.count }
    public var entryCount: Int { entries.count }
    public var openHoldCount: Int { openHolds.count }
    /// An upper bound on the holds that can still expire (heap items,
    /// including ones settled since and not yet discarded).
    public var holdsWithTimeoutCount: Int { expiries.items.count }

    public func account(id: UInt128) -> Account? {
        accountSlotByID[id].map { accounts[Int($0)] }
    }

    public func slot(ofAccount id: UInt128) -> Int? {
        accountSlotByID[id].map(Int.init)
    }

    public func entry(id: UInt128) -> EntryRecord? { entries[id] }

    /// Returns and forgets the slots changed since the previous call.
    public mutating func takeChangedSlots() -> [Int32] {
        let taken = changedSlots
        for slot in taken { slotIsChanged[Int(slot)] = false }
        changedSlots.removeAll(keepingCapacity: true)
        return taken
    }

    @inlinable
    mutating func markChanged(_ slot: Int32) {
        if !slotIsChanged[Int(slot)] {
            slotIsChanged[Int(slot)] = true
            changedSlots.append(slot)
        }
    }

    // MARK: - Applying batches

    /// Applies an encoded, validated batch whose first event gets `timestamp`
    /// (event i gets `timestamp + i`). Appends one result per event to
    /// `results`.
    public mutating func apply(
        _ batch: UnsafeRawBufferPointer, eventCount: Int, timestamp: UInt64, results: inout [ResultCode]
    ) {
        precondition(eventCount >= 1 && eventCount <= Limits.batchEventsMax, "eventCount \(eventCount)")
        precondition(timestamp > lastTimestamp, "timestamp \(timestamp) not after \(lastTimestamp)")
        if evictsOldEntries && residentWindowMonths == 2 {
            let evicted = evictBeforeBatch(endingAt: timestamp + UInt64(eventCount - 1))
            precondition(evicted.isEmpty, "the engine must evict (evictBeforeBatch) and look up cold ids before apply")
        }
        defer { if !coldEntries.isEmpty { coldEntries = [:] } }
        // A second cursor runs `prefetchDistance` events ahead: it measures each
        // event once (the main loop reuses the size from a small stack ring)
        // and prefetches entry-id buckets (the idempotency table is too big
        // for cache).
        let prefetchDistance = 8
        let ringMask = 15  // ring of 16 sizes > prefetchDistance
        withUnsafeTemporaryAllocation(of: Int.self, capacity: ringMask + 1) { sizes in
            var aheadOffset = 0
            var aheadIndex = 0
            func advanceAhead() {
                guard aheadIndex < eventCount else { return }
                guard let size = EventBatchReader.eventSize(batch, at: aheadOffset) else {
                    preconditionFailure("apply() called with an unvalidated batch: event \(aheadIndex) at \(aheadOffset)")
                }
                if batch[aheadOffset] == EventFormat.kindCreateEntry { entries.prefetch(_LE.u128(batch, aheadOffset + EventFormat.idOffset)) }
                sizes[aheadIndex & ringMask] = size
                aheadOffset += size
                aheadIndex += 1
            }
            for _ in 0..<prefetchDistance { advanceAhead() }
            var offset = 0
            for index in 0..<eventCount {
                advanceAhead()
                assert(aheadIndex > index, "the size cursor fell behind")
                let size = sizes[index & ringMask]
                let eventTimestamp = timestamp + UInt64(index)
                let result: ResultCode
                switch batch[offset] {
                case EventFormat.kindCreateAccount: result = applyCreateAccount(batch, offset, timestamp: eventTimestamp)
                case EventFormat.kindCloseAccount: result = applyCloseAccount(batch, offset)
                case EventFormat.kindExpireHold: result = applyExpireHold(_LE.u128(batch, offset + EventFormat.idOffset), timestamp: eventTimestamp)
                default: result = applyEntry(batch, offset, size: size, timestamp: eventTimestamp)
                }
                results.append(result)
                if result == .ok { lastAppliedTimestamp = eventTimestamp }
                offset += size
            }
        }
        lastTimestamp = timestamp + UInt64(eventCount - 1)
    }

    /// Convenience for tests and tools.
    public mutating func apply(_ batch: EventBatch, timestamp: UInt64) -> [ResultCode] {
        var results: [ResultCode] = []
        results.reserveCapacity(batch.eventCount)
        batch.bytes.withUnsafeBytes { raw in
            apply(raw, eventCount: batch.eventCount, timestamp: timestamp, results: &results)
        }
        return results
    }
}
