// Account history and balance-as-of, computed by scanning the segments in
// month order. O(history): the sidecar indexes of issue 3 will replace the
// scan for speed, and this stays as the oracle their tests compare against.
//
// Every change to a balance is an event in the segments (entries, holds being
// posted, voided, and — as engine-generated `expireHold` events — expiring), so
// replaying the account's events reproduces its balances exactly.

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
}

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

public enum SegmentHistory {
    /// The account's events with `fromNs <= timestamp <= toNs`, oldest first,
    /// at most `limit`, each with the balances after it.
    public static func history(
        storage: any Storage = POSIXStorage(), at path: String, account: UInt128, fromNs: UInt64 = 0, toNs: UInt64 = .max, limit: Int
    ) throws -> [HistoryItem] {
        precondition(limit >= 1, "limit \(limit)")
        var items: [HistoryItem] = []
        try scan(storage: storage, at: path, account: account, untilNs: toNs) { item in
            if item.timestamp >= fromNs { items.append(item) }
            return items.count < limit
        }
        return items
    }

    /// The account's balances after every event with timestamp <= `asOfNs`
    /// (zero before its first event).
    public static func balance(storage: any Storage = POSIXStorage(), at path: String, account: UInt128, asOfNs: UInt64) throws -> AccountBalances {
        var last = AccountBalances()
        try scan(storage: storage, at: path, account: account, untilNs: asOfNs) { item in
            last = item.balances
            return true
        }
        return last
    }

    /// Replays the account's events in order; `visit` returns false to stop.
    static func scan(storage: any Storage, at path: String, account: UInt128, untilNs: UInt64, visit: (HistoryItem) -> Bool) throws {
        let layout = DataDirectoryLayout(root: path)
        let lock = try storage.lockFile(layout.lockPath)
        defer { lock.release() }
        let meta = try DataDirectoryMeta.read(storage: storage, layout: layout)
        guard storage.fileExists(layout.segmentsDirectory) else { return }
        let names = try storage.listDirectory(layout.segmentsDirectory).filter { DataDirectoryLayout.month(ofSegmentFileName: $0) != nil }
        var balances = AccountBalances()
        // Holds with a posting on this account: (side, amount) per posting.
        var holds: [UInt128: [(Side, UInt128)]] = [:]
        var stop = false
        for name in names where !stop {
            _ = try SegmentReader.scan(storage: storage, path: layout.segmentsDirectory + "/" + name, expectedDirectoryID: meta.directoryID) { record in
                guard !stop else { return }
                guard record.header.timestamp <= untilNs else {
                    stop = true
                    return
                }
                guard var item = apply(record, account: account, balances: &balances, holds: &holds) else { return }
                item.balances = balances
                if !visit(item) { stop = true }
            }
        }
    }

    /// The account-side effect of one event, or nil when it does not touch
    /// the account. Updates `balances` and `holds`.
    static func apply(_ record: SegmentRecord, account: UInt128, balances: inout AccountBalances, holds: inout [UInt128: [(Side, UInt128)]]) -> HistoryItem? {
        let event = EventBatchReader.decode(record.event, at: 0)
        func item(_ id: UInt128, _ kind: HistoryItem.Kind) -> HistoryItem {
            HistoryItem(id: id, kind: kind, timestamp: record.header.timestamp, lsn: record.header.lsn, balances: balances)
        }
        func post(_ postings: [Posting], into result: inout HistoryItem) {
            for posting in postings {
                if posting.side == .debit {
                    balances.debitsPosted += posting.amount
                    result.debitsPostedDelta += posting.amount
                } else {
                    balances.creditsPosted += posting.amount
                    result.creditsPostedDelta += posting.amount
                }
            }
        }
        func release(_ held: [(Side, UInt128)], into result: inout HistoryItem) {
            for (side, amount) in held {
                if side == .debit {
                    balances.debitsPending -= amount
                    result.debitsPendingDelta -= Int128(amount)
                } else {
                    balances.creditsPending -= amount
                    result.creditsPendingDelta -= Int128(amount)
                }
            }
        }
        switch event {
        case .createAccount, .closeAccount:
            return nil
        case .expireHold(let id):
            guard let held = holds.removeValue(forKey: id) else { return nil }
            var result = item(id, .expireHold)
            release(held, into: &result)
            return result
        case .createEntry(let entry):
            switch entry.kind {
            case .posted:
                let mine = entry.postings.filter { $0.accountID == account }
                guard !mine.isEmpty else { return nil }
                var result = item(entry.id, .posted)
                post(mine, into: &result)
                return result
            case .pending:
                let mine = entry.postings.filter { $0.accountID == account }
                guard !mine.isEmpty else { return nil }
                var result = item(entry.id, .pending)
                for posting in mine {
                    if posting.side == .debit {
                        balances.debitsPending += posting.amount
                        result.debitsPendingDelta += Int128(posting.amount)
                    } else {
                        balances.creditsPending += posting.amount
                        result.creditsPendingDelta += Int128(posting.amount)
                    }
                }
                holds[entry.id] = mine.map { ($0.side, $0.amount) }
                return result
            default:
                guard let held = holds.removeValue(forKey: entry.pendingID) else { return nil }
                var result = item(entry.id, entry.kind == .postPending ? .postPending : .voidPending)
                release(held, into: &result)
                if entry.kind == .postPending {
                    // Full amounts, or the partial amounts of this account's postings.
                    let posted = entry.postings.isEmpty
                        ? held.map { Posting(accountID: account, amount: $0.1, side: $0.0) }
                        : entry.postings.filter { $0.accountID == account }
                    post(posted, into: &result)
                }
                return result
            }
        }
    }
}
