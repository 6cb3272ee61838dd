// Per-event result codes. See Specs/data-model.md ("Result codes"): the table
// there is normative, including the order in which checks run.
/// The result of one event (Specs/data-model.md, "Result codes"): `ok`,
/// `exists` (the same event was applied before: idempotent success), or why
/// it was refused (the event changed nothing).
public enum ResultCode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case ok = 0
    case exists = 1
    case existsWithDifferentFields = 2
    case idMustNotBeZero = 3
    case ledgerMustNotBeZero = 4
    case reservedFlag = 5
    case flagsAreMutuallyExclusive = 6
    case accountsFull = 7
    case accountNotFound = 8
    case accountClosed = 9
    case accountAlreadyClosed = 10
    case accountHasPendingBalance = 11
    case tooFewPostings = 12
    case tooManyPostings = 13
    case metadataTooLong = 14
    case amountMustNotBeZero = 15
    case invalidSide = 16
    case ledgerMismatch = 17
    case unbalanced = 18
    case overflow = 19
    case exceedsCredits = 20
    case exceedsDebits = 21
    case pendingIdMustBeZero = 22
    case pendingIdRequired = 23
    case pendingNotFound = 24
    case pendingAlreadyPosted = 25
    case pendingAlreadyVoided = 26
    case pendingExpired = 27
    case amountExceedsPending = 28
    case postingsDifferFromPending = 29
    case timeoutRequiresPending = 30
    case invalidEntryKind = 31
    case holdNotDue = 32
    /// The pending entry was posted, voided or expired before the resident
    /// window (the previous and current month), so which one is not kept
    /// in memory; it cannot be settled again either way.
    case pendingSettledLongAgo = 33
    /// The ledger's total posted (or pending) movement, summed over its
    /// accounts, would pass 2^128 − 1: every sum that verify, digest and the
    /// month seals compute must fit in 128 bits (StateMachine+LedgerTotals.swift).
    case ledgerTotalOverflow = 34

    public var description: String { name }

    public var name: String {
        switch self {
        case .ok: "ok"
        case .exists: "exists"
        case .existsWithDifferentFields: "existsWithDifferentFields"
        case .idMustNotBeZero: "idMustNotBeZero"
        case .ledgerMustNotBeZero: "ledgerMustNotBeZero"
        case .reservedFlag: "reservedFlag"
        case .flagsAreMutuallyExclusive: "flagsAreMutuallyExclusive"
        case .accountsFull: "accountsFull"
        case .accountNotFound: "accountNotFound"
        case .accountClosed: "accountClosed"
        case .accountAlreadyClosed: "accountAlreadyClosed"
        case .accountHasPendingBalance: "accountHasPendingBalance"
        case .tooFewPostings: "tooFewPostings"
        case .tooManyPostings: "tooManyPostings"
        case .metadataTooLong: "metadataTooLong"
        case .amountMustNotBeZero: "amountMustNotBeZero"
        case .invalidSide: "invalidSide"
        case .ledgerMismatch: "ledgerMismatch"
        case .unbalanced: "unbalanced"
        case .overflow: "overflow"
        case .exceedsCredits: "exceedsCredits"
        case .exceedsDebits: "exceedsDebits"
        case .pendingIdMustBeZero: "pendingIdMustBeZero"
        case .pendingIdRequired: "pendingIdRequired"
        case .pendingNotFound: "pendingNotFound"
        case .pendingAlreadyPosted: "pendingAlreadyPosted"
        case .pendingAlreadyVoided: "pendingAlreadyVoided"
        case .pendingExpired: "pendingExpired"
        case .amountExceedsPending: "amountExceedsPending"
        case .postingsDifferFromPending: "postingsDifferFromPending"
        case .timeoutRequiresPending: "timeoutRequiresPending"
        case .invalidEntryKind: "invalidEntryKind"
        case .holdNotDue: "holdNotDue"
        case .pendingSettledLongAgo: "pendingSettledLongAgo"
        case .ledgerTotalOverflow: "ledgerTotalOverflow"
        }
    }
}
