// The per-month index: for every account touched in the month, its balances
// at the month's start and end and the list of its events (timestamp,
// record offset, and for settlements the pending entry's record), with the
// running balances checkpointed every `checkpointInterval` events; for
// every entry id, its record offset; a bloom filter of entry ids.
//
// `MonthIndexBuilder` keeps it in memory while a month is being filed (the
// open month); when the month is sealed it is written to `<month>.idx`
// (MonthIndexFile.swift). Both answer the same questions through
// `MonthIndexReading`, so queries work alike on open and sealed months.

import CPrefetch

/// One event of an account's history within a month.
public struct AccountEventRef: Sendable, Equatable {
    public var timestamp: UInt64
    /// The event's record in the month's (uncompressed) segment.
    public var offset: UInt64
    /// For settlements, voids and expiries: the pending entry's record.
    public var pendingPosition: SegmentPosition
}

/// An account's summary within one month.
public struct MonthAccount: Sendable, Equatable {
    public var id: UInt128
    public var ledger: UInt32
    public var flags: AccountFlags
    public var opening: AccountBalances
    /// At the month's end (for the open month: now).
    public var closing: AccountBalances
    public var eventCount: Int
    /// Where its refs and checkpoints start (file) or its slot (builder).
    var eventRefStart: Int
    var checkpointStart: Int
}

public protocol MonthIndexReading {
    var month: UTCMonth { get }
    func account(_ id: UInt128) throws -> MonthAccount?
    func eventRefs(of account: MonthAccount, _ range: Range<Int>) throws -> [AccountEventRef]
    /// The account's balances after its event `(j + 1) × checkpointInterval − 1`.
    func checkpoint(of account: MonthAccount, _ j: Int) throws -> AccountBalances
    /// Index of the account's first event with timestamp ≥ `timestampNs`
    /// (its event count if none).
    func firstEvent(of account: MonthAccount, atOrAfter timestampNs: UInt64) throws -> Int
}

public enum MonthIndex {
    /// Running balances are stored after every this many events of an
    /// account, so a balance inside a month replays at most this many − 1.
    public static let checkpointInterval = 32
}

extension MonthIndexReading {
    /// Index of the account's first event with timestamp ≥ `timestampNs`
    /// (its event count if none): binary search over its refs.
    public func firstEvent(of account: MonthAccount, atOrAfter timestampNs: UInt64) throws -> Int {
        try firstEventByProbes(of: account, atOrAfter: timestampNs)
    }

    /// The binary search a ref at a time.
    func firstEventByProbes(of account: MonthAccount, atOrAfter timestampNs: UInt64) throws -> Int {
        var low = 0
        var high = account.eventCount
        while low < high {
            let mid = (low + high) / 2
            if try eventRefs(of: account, mid..<(mid + 1))[0].timestamp < timestampNs { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// A value: the filer mutates it in place (no dynamic exclusivity checks
/// per field, which a class's stored properties would cost on every event;
/// measured 3-8% of the batch benchmark). Queries see a copy while no
/// filing runs, so the copy never forces the arrays to be duplicated.
public struct MonthIndexBuilder: MonthIndexReading {
    public let month: UTCMonth
    struct AccountIndex {
        var summary: MonthAccount
        var refs: [AccountEventRef]
        var checkpoints: [AccountBalances]
    }

    struct Tables {
        /// Per account touched this month, in order of first touch (its
        /// month slot numbers its lists too).
        var summaries: [MonthAccount] = []
        /// Per account: the numbers (in `records`) of its events. 8 bytes a
        /// touch; what an event's refs share (timestamp, offset, pending
        /// record) is stored once, in `records` (issue 13, target 4: 24-byte
        /// refs per touch were most of the open month's index).
        /// (Both read in place from the saved index for the events it
        /// covers: SavedEventArray.swift.)
        var refs = SavedLists<UInt64>(filler: 0)
        var checkpoints = SavedLists(filler: AccountBalances())
        /// Month slot of each `SegmentState` slot (−1: not touched this
        /// month), so filing never hashes an account id.
        var monthSlotByStateSlot: [Int32] = []
        /// For queries by account id.
        var slotByID = IDTable<Int32>(emptyValue: -1)
        /// Id and record offset of every entry, in filing order (two arrays:
        /// a tuple would be padded to 32 bytes); sorted (and checked for
        /// duplicates) only when the month is sealed. While the month is
        /// open, lookups go through the state machine's entry timestamp and
        /// `records`, so filing does not hash entry ids.
        var entryIDs = EventArray<UInt128>()
        var entryOffsets = EventArray<UInt64>()
        /// Every record of the month, in order: its timestamp, offset and,
        /// for settlements, the pending entry's record.
        /// (Read in place from the saved index for the events it covers:
        /// SavedEventArray.swift.)
        var records = EventArray<AccountEventRef>()

        /// The account's first touch this month: its summary and lists.
        mutating func addAccount(_ touch: SegmentState.Touch, stateSlot: Int) -> Int {
            let slot = summaries.count
            monthSlotByStateSlot[stateSlot] = Int32(slot)
            slotByID.insertNew(touch.accountID, Int32(slot))
            summaries.append(
                MonthAccount(
                    id: touch.accountID, ledger: touch.ledger, flags: touch.flags, opening: touch.before, closing: touch.before,
                    eventCount: 0, eventRefStart: slot, checkpointStart: slot))
            let lists = (refs.addList(), checkpoints.addList())
            assert(lists == (slot, slot), "month slot \(slot) has lists \(lists)")
            return slot
        }
    }
    /// Read by the open month's saved index (OpenMonthIndexFile.swift).
    private(set) var t = Tables()
    /// Outside `t`: `apply` takes it inout while its callback writes `t`.
    private var ledgerTotals: [LedgerTotals] = []

    public init(month: UTCMonth) { self.month = month }

    /// A month's index as a saved file restores it; `link(to:)` must follow.
    init(month: UTCMonth, tables: Tables, totals: [LedgerTotals]) {
        self.month = month
        t = tables
        ledgerTotals = totals
    }

    /// Links each account's month slot to its slot in `state` (which must
    /// hold every account the month touched), so filing finds it without
    /// hashing its id.
    mutating func link(to state: SegmentState) {
        t.monthSlotByStateSlot = Array(repeating: -1, count: state.accounts.count)
        for (slot, summary) in t.summaries.enumerated() {
            guard let stateSlot = state.slotByID[summary.id] else { preconditionFailure("account \(summary.id) of the month is not in the state") }
            t.monthSlotByStateSlot[Int(stateSlot)] = Int32(slot)
        }
    }

    /// Applies one filed event to `state` and indexes it.
    public mutating func add(event: UnsafeRawBufferPointer, offset: Int, timestamp: UInt64, state: inout SegmentState) throws {
        let position = SegmentPosition(month: month, offset: offset)
        let recordNumber = t.records.count
        t.records.append(AccountEventRef(timestamp: timestamp, offset: UInt64(offset), pendingPosition: .none))
        try state.apply(event: event, position: position, totals: &ledgerTotals) { touch in
            let stateSlot = Int(touch.stateSlot)
            while t.monthSlotByStateSlot.count <= stateSlot { t.monthSlotByStateSlot.append(-1) }
            var slot = Int(t.monthSlotByStateSlot[stateSlot])
            if slot < 0 { slot = t.addAccount(touch, stateSlot: stateSlot) }
            if touch.pendingPosition != .none { t.records[recordNumber].pendingPosition = touch.pendingPosition }
            t.refs.append(UInt64(recordNumber), to: slot)
            t.summaries[slot].closing = touch.after
            t.summaries[slot].flags = touch.flags
            t.summaries[slot].eventCount += 1
            if t.summaries[slot].eventCount % MonthIndex.checkpointInterval == 0 { t.checkpoints.append(touch.after, to: slot) }
        }
        if event[0] == EventFormat.kindCreateEntry {
            t.entryIDs.append(_LE.u128(event, EventFormat.idOffset))
            t.entryOffsets.append(UInt64(offset))
        }
    }

    public var accountCount: Int { t.summaries.count }

    /// Reserves room for about `events` events in the per-event arrays'
    /// chunk tables (their elements are in chunks that never move:
    /// ChunkedArray.swift; before, each doubling copied everything into
    /// fresh pages, 3 µs a page on this VM, Benchmarks/RESULTS.md, issue 13,
    /// sessions 12 and 15). At most `reservedEventsMax`.
    mutating func reserve(events: Int) {
        let n = min(max(0, events), Self.reservedEventsMax)
        t.records.reserveCapacity(n)
        t.entryIDs.reserveCapacity(n)
        t.entryOffsets.reserveCapacity(n)
    }

    /// 16M events: a chunk table of 256 entries per array at most.
    static let reservedEventsMax = 1 << 24

    /// Events the per-event arrays hold room for.
    var reservedEvents: Int { min(t.records.capacity, t.entryIDs.capacity, t.entryOffsets.capacity) }

    /// Starts loading what filing an event of this account writes: its
    /// summary and its list's tail (FilingPrefetch.swift). Nothing when the
    /// month has not touched it yet.
    func prefetch(stateSlot: Int32) {
        let stateSlot = Int(stateSlot)
        guard stateSlot >= 0, stateSlot < t.monthSlotByStateSlot.count else { return }
        let slot = Int(t.monthSlotByStateSlot[stateSlot])
        guard slot >= 0, slot < t.summaries.count else { return }
        t.summaries.withUnsafeBufferPointer { summaries in
            let address = UnsafeRawPointer(summaries.baseAddress! + slot)
            ledger_prefetch_for_write(address)
            ledger_prefetch_for_write(address + MemoryLayout<MonthAccount>.stride / 2)
            ledger_prefetch_for_write(address + MemoryLayout<MonthAccount>.stride - 1)
        }
        t.refs.prefetchTail(slot)
    }

    /// Bytes the builder's tables hold (Ledger+Memory.swift).
    /// (The per-event arrays by their count: their reserved room is never
    /// touched until used.)
    var allocatedBytes: Int {
        t.refs.allocatedBytes + t.checkpoints.allocatedBytes + t.summaries.capacity * MemoryLayout<MonthAccount>.stride + t.slotByID.allocatedBytes
            + t.monthSlotByStateSlot.capacity * 4 + t.entryIDs.heldBytes + t.entryOffsets.heldBytes + t.records.heldBytes
    }
    public var totals: [LedgerTotals] { ledgerTotals }

    public func account(_ id: UInt128) -> MonthAccount? { t.slotByID[id].map { t.summaries[Int($0)] } }

    public func eventRefs(of account: MonthAccount, _ range: Range<Int>) -> [AccountEventRef] {
        t.refs.elements(account.eventRefStart, range).map { t.records[Int($0)] }
    }

    public func checkpoint(of account: MonthAccount, _ j: Int) -> AccountBalances { t.checkpoints[account.eventRefStart, j] }

    /// The offset of the record with this timestamp, if the month has one.
    public func recordOffset(timestamp: UInt64) -> Int? {
        var low = 0
        var high = t.records.count
        while low < high {
            let mid = (low + high) / 2
            if t.records[mid].timestamp < timestamp { low = mid + 1 } else { high = mid }
        }
        return low < t.records.count && t.records[low].timestamp == timestamp ? Int(t.records[low].offset) : nil
    }

    /// Accounts in id order (the file's order).
    func sortedAccounts() -> [AccountIndex] {
        t.summaries.indices.sorted { t.summaries[$0].id < t.summaries[$1].id }.map {
            AccountIndex(
                summary: t.summaries[$0], refs: eventRefs(of: t.summaries[$0], 0..<t.refs.count($0)),
                checkpoints: t.checkpoints.elements($0, 0..<t.checkpoints.count($0)))
        }
    }

    /// (id, offset) of every entry, in id order. Throws `corruption` when an
    /// id was filed twice in the month.
    func sortedEntries() throws -> [(UInt128, UInt64)] {
        // Sorted as pairs (not through an index array: 4M indirect
        // comparisons miss the cache); the pairs exist only while sealing.
        let sorted = zip(t.entryIDs, t.entryOffsets).map { ($0, $1) }.sorted { $0.0 < $1.0 }
        for i in sorted.indices.dropFirst() where sorted[i].0 == sorted[i - 1].0 {
            throw LedgerError(.corruption, "entry \(sorted[i].0) is filed twice in \(month)")
        }
        return sorted
    }
}
