// Client-facing event values. The engine applies encoded batches (see
// EventBatch.swift); these structs are how tests, ledgerctl and clients build
// them and how readers present them.

/// An account's flags (Specs/data-model.md, "Accounts").
public struct AccountFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Posted and pending debits may never exceed posted credits (a wallet).
    public static let debitsMustNotExceedCredits = AccountFlags(rawValue: 1 << 0)
    /// Posted and pending credits may never exceed posted debits.
    public static let creditsMustNotExceedDebits = AccountFlags(rawValue: 1 << 1)
    /// Set by `closeAccount`: no new postings.
    public static let closed = AccountFlags(rawValue: 1 << 2)
    /// Bits a client may set in `createAccount`.
    public static let clientSettable: AccountFlags = [.debitsMustNotExceedCredits, .creditsMustNotExceedDebits]
    /// Every bit that has a meaning; others are refused.
    public static let known: AccountFlags = [.debitsMustNotExceedCredits, .creditsMustNotExceedDebits, .closed]
}

/// The side of a posting: debit (1) or credit (2); other values are refused.
public struct Side: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let debit = Side(rawValue: 1)
    public static let credit = Side(rawValue: 2)
    public var isValid: Bool { self == .debit || self == .credit }
    public var description: String {
        switch self {
        case .debit: "debit"
        case .credit: "credit"
        default: "side(\(rawValue))"
        }
    }
}

/// What an entry does: post at once, hold funds (pending), or settle a
/// hold by posting (all or part of) it or voiding it.
public struct EntryKind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let posted = EntryKind(rawValue: 0)
    public static let pending = EntryKind(rawValue: 1)
    public static let postPending = EntryKind(rawValue: 2)
    public static let voidPending = EntryKind(rawValue: 3)
    public var description: String {
        switch self {
        case .posted: "posted"
        case .pending: "pending"
        case .postPending: "postPending"
        case .voidPending: "voidPending"
        default: "kind(\(rawValue))"
        }
    }
}

/// One leg of an entry: an amount (minor units) on one side of one account.
public struct Posting: Sendable, Hashable {
    public var accountID: UInt128
    /// Minor units (cents), never zero.
    public var amount: UInt128
    public var side: Side
    public init(accountID: UInt128, amount: UInt128, side: Side) {
        self.accountID = accountID
        self.amount = amount
        self.side = side
    }
    public static func debit(_ accountID: UInt128, _ amount: UInt128) -> Posting {
        Posting(accountID: accountID, amount: amount, side: .debit)
    }
    public static func credit(_ accountID: UInt128, _ amount: UInt128) -> Posting {
        Posting(accountID: accountID, amount: amount, side: .credit)
    }
}

/// A `createAccount` event.
public struct NewAccount: Sendable, Hashable {
    /// Idempotency key: creating the same account again answers `exists`.
    public var id: UInt128
    /// The currency or asset; postings of one entry balance per ledger.
    public var ledger: UInt32
    /// The caller's account type (free for the caller to define).
    public var code: UInt16
    public var flags: AccountFlags
    /// The caller's reference (free for the caller to define).
    public var userData: UInt128
    public init(id: UInt128, ledger: UInt32, code: UInt16 = 0, flags: AccountFlags = [], userData: UInt128 = 0) {
        self.id = id
        self.ledger = ledger
        self.code = code
        self.flags = flags
        self.userData = userData
    }
}

/// A journal entry (`createEntry`): its postings must balance per ledger.
public struct NewEntry: Sendable, Hashable {
    /// Idempotency key: the same entry again answers `exists`.
    public var id: UInt128
    public var kind: EntryKind
    /// 2 to `Limits.entryPostingsMax`; empty for a void or a full post of a hold.
    public var postings: [Posting]
    /// The hold a `postPending` or `voidPending` settles; 0 otherwise.
    public var pendingID: UInt128
    /// A pending entry's hold expires after this many seconds; 0: never.
    public var timeoutSeconds: UInt32
    /// The caller's entry type (free for the caller to define).
    public var code: UInt16
    /// The caller's reference (free for the caller to define).
    public var userData: UInt128
    /// Up to `Limits.entryMetadataBytesMax` bytes kept with the entry (a
    /// gateway charge id, an order number).
    public var metadata: [UInt8]
    public init(
        id: UInt128, kind: EntryKind = .posted, postings: [Posting], pendingID: UInt128 = 0,
        timeoutSeconds: UInt32 = 0, code: UInt16 = 0, userData: UInt128 = 0, metadata: [UInt8] = []
    ) {
        self.id = id
        self.kind = kind
        self.postings = postings
        self.pendingID = pendingID
        self.timeoutSeconds = timeoutSeconds
        self.code = code
        self.userData = userData
        self.metadata = metadata
    }
}

/// One event of a batch.
public enum Event: Sendable, Hashable {
    case createAccount(NewAccount)
    case closeAccount(UInt128)
    case createEntry(NewEntry)
    /// Engine-generated (never accepted from clients): the hold with this
    /// pending entry id has timed out and is released.
    case expireHold(UInt128)
}

/// An account as the state machine holds it: identity, flags and balances.
public struct Account: Sendable, Hashable {
    public var id: UInt128
    public var userData: UInt128
    public var ledger: UInt32
    public var code: UInt16
    public var flags: AccountFlags
    /// When the account was created (ns since the Unix epoch, assigned by the engine).
    public var timestamp: UInt64
    public var debitsPosted: UInt128 = 0
    public var creditsPosted: UInt128 = 0
    public var debitsPending: UInt128 = 0
    public var creditsPending: UInt128 = 0

    public init(id: UInt128, userData: UInt128, ledger: UInt32, code: UInt16, flags: AccountFlags, timestamp: UInt64) {
        self.id = id
        self.userData = userData
        self.ledger = ledger
        self.code = code
        self.flags = flags
        self.timestamp = timestamp
    }
}
