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
}

public enum MonthIndex {
    /// Running balances are stored after every this many events of an
    /// account, so a balance inside a month replays at most this many − 1.
    public static let checkpointInterval = 32
}

extension MonthIndexReading {
    /// Index of the account's first event with timestamp ≥ `timestampNs`
    /// (its event count if none): binary search over its refs.
    func firstEvent(of account: MonthAccount, atOrAfter timestampNs: UInt64) throws -> Int {
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
        var refs = ChunkedLists(filler: AccountEventRef(timestamp: 0, offset: 0, pendingPosition: .none))
        var checkpoints = ChunkedLists(filler: AccountBalances())
        /// Month slot of each `SegmentState` slot (−1: not touched this
        /// month), so filing never hashes an account id.
        var monthSlotByStateSlot: [Int32] = []
        /// For queries by account id.
        var slotByID = IDTable<Int32>(emptyValue: -1)
        /// (id, record offset) of every entry, in filing order; sorted (and
        /// checked for duplicates) only when the month is sealed. While the
        /// month is open, lookups go through the state machine's entry
        /// timestamp and `records`, so filing does not hash entry ids.
        var entries: [(id: UInt128, offset: UInt64)] = []
        /// (timestamp, record offset) of every record, in order.
        var records: [(timestamp: UInt64, offset: UInt64)] = []
        var totals: [LedgerTotals] = []
    }
    private var t = Tables()

    public init(month: UTCMonth) { self.month = month }

    /// Applies one filed event to `state` and indexes it.
    public mutating func add(event: UnsafeRawBufferPointer, offset: Int, timestamp: UInt64, state: inout SegmentState) throws {
        let position = SegmentPosition(month: month, offset: offset)
        try state.apply(event: event, position: position, totals: &t.totals) { touch in
            let stateSlot = Int(touch.stateSlot)
            while t.monthSlotByStateSlot.count <= stateSlot { t.monthSlotByStateSlot.append(-1) }
            var slot = Int(t.monthSlotByStateSlot[stateSlot])
            if slot < 0 {
                slot = t.summaries.count
                t.monthSlotByStateSlot[stateSlot] = Int32(slot)
                t.slotByID.insertNew(touch.accountID, Int32(slot))
                t.summaries.append(
                    MonthAccount(
                        id: touch.accountID, ledger: touch.ledger, flags: touch.flags, opening: touch.before, closing: touch.before,
                        eventCount: 0, eventRefStart: slot, checkpointStart: slot))
                let lists = (t.refs.addList(), t.checkpoints.addList())
                assert(lists == (slot, slot), "month slot \(slot) has lists \(lists)")
            }
            t.refs.append(AccountEventRef(timestamp: timestamp, offset: UInt64(offset), pendingPosition: touch.pendingPosition), to: slot)
            t.summaries[slot].closing = touch.after
            t.summaries[slot].flags = touch.flags
            t.summaries[slot].eventCount += 1
            if t.summaries[slot].eventCount % MonthIndex.checkpointInterval == 0 { t.checkpoints.append(touch.after, to: slot) }
        }
        t.records.append((timestamp, UInt64(offset)))
        if event[0] == EventFormat.kindCreateEntry { t.entries.append((_LE.u128(event, EventFormat.idOffset), UInt64(offset))) }
    }

    public var accountCount: Int { t.summaries.count }

    /// Bytes the builder's tables hold (Ledger+Memory.swift).
    var allocatedBytes: Int {
        t.refs.allocatedBytes + t.checkpoints.allocatedBytes + t.summaries.capacity * MemoryLayout<MonthAccount>.stride + t.slotByID.allocatedBytes
            + t.monthSlotByStateSlot.capacity * 4 + t.entries.capacity * MemoryLayout<(id: UInt128, offset: UInt64)>.stride + t.records.capacity
            * MemoryLayout<(timestamp: UInt64, offset: UInt64)>.stride
    }
    public var totals: [LedgerTotals] { t.totals }

    public func account(_ id: UInt128) -> MonthAccount? { t.slotByID[id].map { t.summaries[Int($0)] } }

    public func eventRefs(of account: MonthAccount, _ range: Range<Int>) -> [AccountEventRef] {
        t.refs.elements(account.eventRefStart, range)
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
                summary: t.summaries[$0], refs: t.refs.elements($0, 0..<t.refs.count($0)),
                checkpoints: t.checkpoints.elements($0, 0..<t.checkpoints.count($0)))
        }
    }

    /// (id, offset) of every entry, in id order. Throws `corruption` when an
    /// id was filed twice in the month.
    func sortedEntries() throws -> [(UInt128, UInt64)] {
        let sorted = t.entries.sorted { $0.id < $1.id }
        for i in sorted.indices.dropFirst() where sorted[i].id == sorted[i - 1].id {
            throw LedgerError(.corruption, "entry \(sorted[i].id) is filed twice in \(month)")
        }
        return sorted.map { ($0.id, $0.offset) }
    }
}
