// Account history and balance-as-of, computed by scanning the segments in
// month order. O(history): the sidecar indexes of issue 3 will replace the
// scan for speed, and this stays as the oracle their tests compare against.
//
// Every change to a balance is an event in the segments (entries, holds being
// posted, voided, and — as engine-generated `expireHold` events — expiring), so
// replaying the account's events reproduces its balances exactly.

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
        let directory = try ReadOnlyDirectory(at: path, storage: storage)
        defer { directory.close() }
        let layout = directory.layout
        let meta = directory.meta
        guard storage.fileExists(layout.segmentsDirectory) else { return }
        let months = try SegmentFiles.months(storage: storage, layout: layout)
        var balances = AccountBalances()
        // Holds with a posting on this account: those postings.
        var holds: [UInt128: [Posting]] = [:]
        var stop = false
        for (month, form) in months where !stop {
            let file = try SegmentFiles.openForReading(month, form: form, storage: storage, layout: layout, directoryID: meta.directoryID)
            defer { file.close() }
            _ = try SegmentReader.scan(file: file, expectedDirectoryID: meta.directoryID) { record in
                guard !stop else { return }
                guard record.header.timestamp <= untilNs else {
                    stop = true
                    return
                }
                guard let item = apply(record, account: account, balances: &balances, holds: &holds) else { return }
                if !visit(item) { stop = true }
            }
        }
    }

    /// The account-side effect of one event, or nil when it does not touch
    /// the account. Updates `balances` and `holds`.
    static func apply(_ record: SegmentRecord, account: UInt128, balances: inout AccountBalances, holds: inout [UInt128: [Posting]]) -> HistoryItem? {
        let event = EventBatchReader.decode(record.event, at: 0)
        var hold: [Posting]?
        switch event {
        case .expireHold(let id): hold = holds.removeValue(forKey: id)
        case .createEntry(let entry) where entry.kind == .postPending || entry.kind == .voidPending: hold = holds.removeValue(forKey: entry.pendingID)
        case .createEntry(let entry) where entry.kind == .pending:
            let mine = entry.postings.filter { $0.accountID == account }
            if !mine.isEmpty { holds[entry.id] = mine }
        default: break
        }
        return HistoryItem.effect(of: event, on: account, timestamp: record.header.timestamp, lsn: record.header.lsn, balances: &balances, hold: hold)
    }
}

extension HistoryItem {
    /// What `event` did to `account`, applied to `balances`; nil when it does
    /// not touch the account. For a settlement, void or expiry, `hold` is the
    /// pending entry's postings (nil: the hold has none on this account).
    static func effect(of event: Event, on account: UInt128, timestamp: UInt64, lsn: UInt64, balances: inout AccountBalances, hold: [Posting]?) -> HistoryItem?
    {
        func item(_ id: UInt128, _ kind: HistoryItem.Kind) -> HistoryItem {
            HistoryItem(id: id, kind: kind, timestamp: timestamp, lsn: lsn, balances: balances)
        }
        func post(_ postings: [Posting], into result: inout HistoryItem) {
            for posting in postings where posting.accountID == account {
                if posting.side == .debit {
                    balances.debitsPosted += posting.amount
                    result.debitsPostedDelta += posting.amount
                } else {
                    balances.creditsPosted += posting.amount
                    result.creditsPostedDelta += posting.amount
                }
            }
        }
        func release(_ held: [Posting], into result: inout HistoryItem) {
            for posting in held where posting.accountID == account {
                if posting.side == .debit {
                    balances.debitsPending -= posting.amount
                    result.debitsPendingDelta -= Int128(posting.amount)
                } else {
                    balances.creditsPending -= posting.amount
                    result.creditsPendingDelta -= Int128(posting.amount)
                }
            }
        }
        var result: HistoryItem
        switch event {
        case .createAccount, .closeAccount:
            return nil
        case .expireHold(let id):
            guard let hold, hold.contains(where: { $0.accountID == account }) else { return nil }
            result = item(id, .expireHold)
            release(hold, into: &result)
        case .createEntry(let entry):
            switch entry.kind {
            case .posted:
                guard entry.postings.contains(where: { $0.accountID == account }) else { return nil }
                result = item(entry.id, .posted)
                post(entry.postings, into: &result)
            case .pending:
                guard entry.postings.contains(where: { $0.accountID == account }) else { return nil }
                result = item(entry.id, .pending)
                for posting in entry.postings where posting.accountID == account {
                    if posting.side == .debit {
                        balances.debitsPending += posting.amount
                        result.debitsPendingDelta += Int128(posting.amount)
                    } else {
                        balances.creditsPending += posting.amount
                        result.creditsPendingDelta += Int128(posting.amount)
                    }
                }
            default:
                guard let hold, hold.contains(where: { $0.accountID == account }) else { return nil }
                result = item(entry.id, entry.kind == .postPending ? .postPending : .voidPending)
                release(hold, into: &result)
                // Full amounts, or the partial amounts of the entry's postings.
                if entry.kind == .postPending { post(entry.postings.isEmpty ? hold : entry.postings, into: &result) }
            }
        }
        result.balances = balances
        return result
    }
}
