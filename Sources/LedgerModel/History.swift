// An account's history as queries return it: each event with what it did
// to the account and the balances after it, a page at a time.

/// One event in an account's history, with what it did to the account.
public struct HistoryItem: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case posted, pending, postPending, voidPending, expireHold
    }
    /// The entry id (for `expireHold`: the pending entry's id).
    public var id: UInt128
    public var kind: Kind
    public var timestamp: UInt64
    public var lsn: UInt64
    /// What this event did to the account: posted and pending, debit and credit.
    public var debitsPostedDelta: UInt128 = 0
    public var creditsPostedDelta: UInt128 = 0
    /// Signed changes to pending (holds add, settlements release).
    public var debitsPendingDelta: Int128 = 0
    public var creditsPendingDelta: Int128 = 0
    /// The account's balances after the event.
    public var balances: AccountBalances

    public init(id: UInt128, kind: Kind, timestamp: UInt64, lsn: UInt64, balances: AccountBalances) {
        (self.id, self.kind, self.timestamp, self.lsn, self.balances) = (id, kind, timestamp, lsn, balances)
    }
}

/// An account's four balances (minor units).
public struct AccountBalances: Sendable, Equatable {
    public var debitsPosted: UInt128 = 0
    public var creditsPosted: UInt128 = 0
    public var debitsPending: UInt128 = 0
    public var creditsPending: UInt128 = 0
    public init() {}
    public init(_ account: Account) {
        debitsPosted = account.debitsPosted
        creditsPosted = account.creditsPosted
        debitsPending = account.debitsPending
        creditsPending = account.creditsPending
    }
}

/// One page of an account's history.
public struct HistoryPage: Sendable, Equatable {
    public var items: [HistoryItem]
    /// Pass as `afterNs` to get the next page; nil when there is none.
    public var nextCursor: UInt64?

    public init(items: [HistoryItem], nextCursor: UInt64?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}
