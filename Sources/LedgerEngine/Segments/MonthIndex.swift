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

public protocol MonthIndexReading: AnyObject {
    var month: UTCMonth { get }
    func account(_ id: UInt128) throws -> MonthAccount?
    func eventRefs(of account: MonthAccount, _ range: Range<Int>) throws -> [AccountEventRef]
    /// The account's balances after its event `(j + 1) × checkpointInterval − 1`.
    func checkpoint(of account: MonthAccount, _ j: Int) throws -> AccountBalances
    /// The record offset of the entry with this id, if it was applied this month.
    func entryOffset(_ id: UInt128) throws -> Int?
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

public final class MonthIndexBuilder: MonthIndexReading {
    public let month: UTCMonth
    struct AccountIndex {
        var summary: MonthAccount
        var refs: [AccountEventRef] = []
        var checkpoints: [AccountBalances] = []
    }
    private var slotByID = IDTable<Int32>(emptyValue: -1)
    private(set) var accounts: [AccountIndex] = []
    private var entryOffsets = IDTable<UInt64>(emptyValue: 0)
    private(set) var entryIDs: [UInt128] = []
    public private(set) var totals: [LedgerTotals] = []

    public init(month: UTCMonth) { self.month = month }

    /// Applies one filed event to `state` and indexes it.
    public func add(event: UnsafeRawBufferPointer, offset: Int, timestamp: UInt64, state: inout SegmentState) throws {
        let position = SegmentPosition(month: month, offset: offset)
        try state.apply(event: event, position: position, totals: &totals) { touch in
            let slot: Int
            if let existing = slotByID[touch.accountID] {
                slot = Int(existing)
            } else {
                slot = accounts.count
                slotByID.insertNew(touch.accountID, Int32(slot))
                accounts.append(AccountIndex(summary: MonthAccount(
                    id: touch.accountID, ledger: touch.ledger, flags: touch.flags, opening: touch.before, closing: touch.before,
                    eventCount: 0, eventRefStart: slot, checkpointStart: slot)))
            }
            accounts[slot].refs.append(AccountEventRef(timestamp: timestamp, offset: UInt64(offset), pendingPosition: touch.pendingPosition))
            accounts[slot].summary.closing = touch.after
            accounts[slot].summary.flags = touch.flags
            accounts[slot].summary.eventCount += 1
            if accounts[slot].refs.count % MonthIndex.checkpointInterval == 0 { accounts[slot].checkpoints.append(touch.after) }
        }
        if event[0] == EventFormat.kindCreateEntry {
            let id = _LE.u128(event, 16)
            guard entryOffsets.find(id) == nil else { throw LedgerError(.corruption, "entry \(id) is filed twice in \(month)") }
            entryOffsets.insertNew(id, UInt64(offset))
            entryIDs.append(id)
        }
    }

    public var accountCount: Int { accounts.count }

    public func account(_ id: UInt128) -> MonthAccount? { slotByID[id].map { accounts[Int($0)].summary } }

    public func eventRefs(of account: MonthAccount, _ range: Range<Int>) -> [AccountEventRef] {
        Array(accounts[account.eventRefStart].refs[range])
    }

    public func checkpoint(of account: MonthAccount, _ j: Int) -> AccountBalances { accounts[account.eventRefStart].checkpoints[j] }

    public func entryOffset(_ id: UInt128) -> Int? { entryOffsets[id].map { Int($0) } }

    /// Accounts in id order (the file's order).
    func sortedAccounts() -> [AccountIndex] { accounts.sorted { $0.summary.id < $1.summary.id } }

    /// (id, offset) of every entry, in id order.
    func sortedEntries() -> [(UInt128, UInt64)] {
        entryIDs.map { ($0, entryOffsets[$0]!) }.sorted { $0.0 < $1.0 }
    }
}
