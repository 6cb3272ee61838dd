// The ledger state derived from segment events alone, in filing order:
// every account's ledger, flags and balances, and every open hold with the
// position of the event that created it. The filer keeps one to seal months
// (closing balances, open holds, per-ledger totals) and to index them
// (running balances per account); `verify` rebuilds one from the segments
// and compares. It applies only events the state machine already accepted,
// so an event it cannot apply means the segments are damaged.

/// Where a record lies: its month and its byte offset in that month's
/// uncompressed segment. Packed as `monthNumber << 40 | offset` (a month's
/// segment stays below 1 TiB); 0 means "none".
public struct SegmentPosition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt64
    static let offsetBits: UInt64 = 40
    public static let none = SegmentPosition(rawValue: 0)

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(month: UTCMonth, offset: Int) {
        precondition(offset > 0 && UInt64(offset) < 1 << Self.offsetBits, "segment offset \(offset)")
        rawValue = UInt64(month.number) << Self.offsetBits | UInt64(offset)
    }

    public var month: UTCMonth { UTCMonth(number: Int(rawValue >> Self.offsetBits)) }
    /// `none`, or a month in range with an offset: what a decoder must
    /// check before `month` is read from bytes of a file.
    public var isValid: Bool { rawValue == 0 || (offset > 0 && UTCMonth(checkedNumber: Int(rawValue >> Self.offsetBits)) != nil) }
    public var offset: Int { Int(rawValue & ((1 << Self.offsetBits) - 1)) }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { rawValue == 0 ? "none" : "\(month)@\(offset)" }
}

public struct SegmentAccount: Sendable, Equatable {
    public var id: UInt128
    public var ledger: UInt32
    public var flags: AccountFlags
    public var balances: AccountBalances
}

public struct SegmentHold: Sendable, Equatable {
    /// The pending entry's record.
    public var position: SegmentPosition
    public var postings: [Posting]
}

/// Posted movement of one ledger during a month.
public struct LedgerTotals: Sendable, Equatable {
    public var ledger: UInt32
    public var debitsPosted: UInt128 = 0
    public var creditsPosted: UInt128 = 0
}

public struct SegmentState: Sendable {
    public private(set) var accounts: [SegmentAccount] = []
    private(set) var slotByID = IDTable<Int32>(emptyValue: -1)
    public private(set) var holds: [UInt128: SegmentHold] = [:]
    /// Distinct accounts touched by the event being applied, with their
    /// balances before it (reused buffer).
    private var touched: [(slot: Int32, before: AccountBalances)] = []

    public init() {}

    public func account(_ id: UInt128) -> SegmentAccount? { slotByID[id].map { accounts[Int($0)] } }

    /// Restores an account from a sealed footer (its state at month end).
    mutating func restore(_ account: SegmentAccount) {
        if let slot = slotByID[account.id] {
            accounts[Int(slot)] = account
        } else {
            slotByID.insertNew(account.id, Int32(accounts.count))
            accounts.append(account)
        }
    }

    mutating func restoreHolds(_ restored: [UInt128: SegmentHold]) { holds = restored }

    /// The state at the end of a sealed month, from the state at its start:
    /// the seal holds every account the month touched and every open hold.
    mutating func restore(sealed seal: SegmentSeal) {
        for account in seal.accounts { restore(account) }
        restoreHolds(Dictionary(uniqueKeysWithValues: seal.holds.map { ($0.id, $0.hold) }))
    }

    /// What `apply` reports for each distinct account an event touched.
    public struct Touch {
        public var accountID: UInt128
        /// The account's slot in this state (dense, stable): lets callers
        /// keep per-account arrays instead of hashing the id again.
        public var stateSlot: Int32
        public var ledger: UInt32
        /// After the event.
        public var flags: AccountFlags
        /// For settlements, voids and expiries: the pending entry's record.
        public var pendingPosition: SegmentPosition
        public var before: AccountBalances
        /// The account after the event.
        public var after: AccountBalances
    }

    /// Applies one filed event (`event` is its encoding) found at `position`;
    /// adds its posted movement to `totals`; reports each touched account.
    /// Throws a `corruption` error (without a location) if the event cannot
    /// have been accepted by the state machine.
    public mutating func apply(
        event p: UnsafeRawBufferPointer, position: SegmentPosition, totals: inout [LedgerTotals], touch: (Touch) -> Void
    ) throws {
        touched.removeAll(keepingCapacity: true)
        var pendingPosition = SegmentPosition.none
        switch p[EventFormat.kindOffset] {
        case EventFormat.kindCreateAccount:
            let id = _LE.u128(p, EventFormat.idOffset)
            guard slotByID[id] == nil else { throw LedgerError(.corruption, "account \(id) is created twice") }
            let slot = Int32(accounts.count)
            slotByID.insertNew(id, slot)
            accounts.append(
                SegmentAccount(
                    id: id, ledger: _LE.u32(p, EventFormat.accountLedgerOffset), flags: AccountFlags(rawValue: _LE.u16(p, EventFormat.accountFlagsOffset)),
                    balances: AccountBalances()))
            touched.append((slot, AccountBalances()))
        case EventFormat.kindCloseAccount:
            let slot = try slot(of: _LE.u128(p, EventFormat.idOffset))
            markTouched(slot)
            accounts[Int(slot)].flags.insert(.closed)
        case EventFormat.kindExpireHold:
            let id = _LE.u128(p, EventFormat.idOffset)
            guard let hold = holds.removeValue(forKey: id) else { throw LedgerError(.corruption, "expiry of hold \(id), which is not open") }
            pendingPosition = hold.position
            try release(hold)
        case EventFormat.kindCreateEntry:
            pendingPosition = try applyEntry(p, position: position, totals: &totals)
        default:
            throw LedgerError(.corruption, "event kind \(p[0]) is not valid")
        }
        for (slot, before) in touched {
            let account = accounts[Int(slot)]
            touch(
                Touch(
                    accountID: account.id, stateSlot: slot, ledger: account.ledger, flags: account.flags, pendingPosition: pendingPosition, before: before,
                    after: account.balances))
        }
    }

    /// A journal entry: a posted or pending entry, or the settlement of a
    /// hold. Returns the position of the pending entry it settles, if any.
    private mutating func applyEntry(_ p: UnsafeRawBufferPointer, position: SegmentPosition, totals: inout [LedgerTotals]) throws -> SegmentPosition {
        var pendingPosition = SegmentPosition.none
        let id = _LE.u128(p, EventFormat.idOffset)
        let kind = EntryKind(rawValue: p[EventFormat.entryKindOffset])
        let postingCount = Int(_LE.u16(p, EventFormat.entryPostingCountOffset))
        switch kind {
        case .posted, .pending:
            var postings: [Posting] = []
            if kind == .pending { postings.reserveCapacity(postingCount) }
            for i in 0..<postingCount {
                let o = EventFormat.entryHeaderBytes + i * EventFormat.postingBytes
                let posting = Posting(
                    accountID: _LE.u128(p, o + EventFormat.postingAccountOffset), amount: _LE.u128(p, o + EventFormat.postingAmountOffset),
                    side: Side(rawValue: p[o + EventFormat.postingSideOffset]))
                let slot = try slot(of: posting.accountID)
                if kind == .posted {
                    try post(posting, slot: slot, totals: &totals)
                } else {
                    try hold(posting, slot: slot)
                    postings.append(posting)
                }
            }
            if kind == .pending {
                guard holds[id] == nil else { throw LedgerError(.corruption, "hold \(id) is created twice") }
                holds[id] = SegmentHold(position: position, postings: postings)
            }
        case .postPending, .voidPending:
            let pendingID = _LE.u128(p, EventFormat.entryPendingIDOffset)
            guard let hold = holds.removeValue(forKey: pendingID) else {
                throw LedgerError(.corruption, "settlement of hold \(pendingID), which is not open")
            }
            pendingPosition = hold.position
            try release(hold)
            if kind == .postPending {
                if postingCount == 0 {
                    for posting in hold.postings { try post(posting, slot: try slot(of: posting.accountID), totals: &totals) }
                } else {
                    guard postingCount == hold.postings.count else {
                        throw LedgerError(.corruption, "partial settlement of hold \(pendingID) names other postings")
                    }
                    for i in 0..<postingCount {
                        let o = EventFormat.entryHeaderBytes + i * EventFormat.postingBytes
                        let posting = Posting(
                            accountID: _LE.u128(p, o + EventFormat.postingAccountOffset), amount: _LE.u128(p, o + EventFormat.postingAmountOffset),
                            side: Side(rawValue: p[o + EventFormat.postingSideOffset]))
                        guard posting.accountID == hold.postings[i].accountID, posting.side == hold.postings[i].side,
                            posting.amount <= hold.postings[i].amount
                        else { throw LedgerError(.corruption, "partial settlement of hold \(pendingID) exceeds or differs from the hold") }
                        try post(posting, slot: try slot(of: posting.accountID), totals: &totals)
                    }
                }
            }
        default:
            throw LedgerError(.corruption, "entry kind \(kind) is not valid")
        }
        return pendingPosition
    }

    private func slot(of id: UInt128) throws -> Int32 {
        guard let slot = slotByID[id] else { throw LedgerError(.corruption, "event names account \(id), which was never created") }
        return slot
    }

    private mutating func markTouched(_ slot: Int32) {
        // A linear scan: an event touches at most 128 accounts, usually 2.
        var i = 0
        while i < touched.count {
            if touched[i].slot == slot { return }
            i += 1
        }
        touched.append((slot, accounts[Int(slot)].balances))
    }

    private mutating func post(_ posting: Posting, slot: Int32, totals: inout [LedgerTotals]) throws {
        markTouched(slot)
        let ledger = accounts[Int(slot)].ledger
        let t =
            totals.firstIndex { $0.ledger == ledger }
            ?? {
                totals.append(LedgerTotals(ledger: ledger))
                return totals.count - 1
            }()
        var overflow = false
        if posting.side == .debit {
            (accounts[Int(slot)].balances.debitsPosted, overflow) = accounts[Int(slot)].balances.debitsPosted.addingReportingOverflow(posting.amount)
            totals[t].debitsPosted &+= posting.amount  // a month's movement; checked when sealed
        } else if posting.side == .credit {
            (accounts[Int(slot)].balances.creditsPosted, overflow) = accounts[Int(slot)].balances.creditsPosted.addingReportingOverflow(posting.amount)
            totals[t].creditsPosted &+= posting.amount
        } else {
            throw LedgerError(.corruption, "posting side \(posting.side) is not valid")
        }
        if overflow { throw LedgerError(.corruption, "balance of account \(posting.accountID) overflows") }
    }

    private mutating func hold(_ posting: Posting, slot: Int32) throws {
        markTouched(slot)
        var overflow = false
        if posting.side == .debit {
            (accounts[Int(slot)].balances.debitsPending, overflow) = accounts[Int(slot)].balances.debitsPending.addingReportingOverflow(posting.amount)
        } else if posting.side == .credit {
            (accounts[Int(slot)].balances.creditsPending, overflow) = accounts[Int(slot)].balances.creditsPending.addingReportingOverflow(posting.amount)
        } else {
            throw LedgerError(.corruption, "posting side \(posting.side) is not valid")
        }
        if overflow { throw LedgerError(.corruption, "pending balance of account \(posting.accountID) overflows") }
    }

    private mutating func release(_ hold: SegmentHold) throws {
        for posting in hold.postings {
            let slot = try slot(of: posting.accountID)
            markTouched(slot)
            if posting.side == .debit {
                guard accounts[Int(slot)].balances.debitsPending >= posting.amount else {
                    throw LedgerError(.corruption, "hold release exceeds pending debits")
                }
                accounts[Int(slot)].balances.debitsPending -= posting.amount
            } else {
                guard accounts[Int(slot)].balances.creditsPending >= posting.amount else {
                    throw LedgerError(.corruption, "hold release exceeds pending credits")
                }
                accounts[Int(slot)].balances.creditsPending -= posting.amount
            }
        }
    }
}
