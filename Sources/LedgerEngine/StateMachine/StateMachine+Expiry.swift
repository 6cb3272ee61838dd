// Hold expiry: the heap of open holds with a timeout, and the engine-
// generated expireHold events that release them.

extension LedgerStateMachine {
    // MARK: Expiry

    /// Takes the ids of open holds whose expiry is at or before `timestamp`,
    /// in (expiry, id) order, at most `limit`, off the expiry heap. The caller
    /// must put every returned id into `expireHold` events of its next batch
    /// (the engine does, ahead of each client batch), so every expiry is an
    /// event in the log and in the segments. Replay never calls this: it
    /// applies the logged events, and heap items of holds settled some other
    /// way are discarded lazily here.
    public mutating func takeHoldsDue(atOrBefore timestamp: UInt64, limit: Int) -> [UInt128] {
        var due: [UInt128] = []
        while due.count < limit, let next = expiries.peek(), next.expiresAtNs <= timestamp || openHolds[next.id] == nil {
            _ = expiries.pop()
            if openHolds[next.id] != nil { due.append(next.id) }
        }
        return due
    }

    /// Releases hold `id` if it is open and due at `timestamp`.
    @usableFromInline
    mutating func applyExpireHold(_ id: UInt128, timestamp: UInt64) -> ResultCode {
        guard id != 0 else { return .idMustNotBeZero }
        var record: EntryRecord
        let hold: OpenHold
        switch findOpenHold(id) {
        case .rejected(let code): return code
        case .open(let found, let open): (record, hold) = (found, open)
        }
        guard hold.expiresAtNs != 0, hold.expiresAtNs <= timestamp else { return .holdNotDue }
        for held in hold.postings where held.side == .debit {
            ledgerTotals[accounts[Int(held.slot)].ledger, default: LedgerTotal()].pending -= held.amount
        }
        for held in hold.postings {
            // Underflow would mean pending balances lost track of holds: trap.
            if held.side == .debit {
                accounts[Int(held.slot)].debitsPending -= held.amount
            } else {
                accounts[Int(held.slot)].creditsPending -= held.amount
            }
            markChanged(held.slot)
        }
        openHolds[id] = nil
        record.holdState = .expired
        entries.set(id, record)
        return .ok
    }
}

/// A binary min-heap of hold expiries ordered by (expiry, id), so expiry is
/// deterministic when several holds expire at the same nanosecond.
@usableFromInline
struct ExpiryHeap: Sendable, Hashable {
    @usableFromInline
    struct Item: Sendable, Hashable {
        var expiresAtNs: UInt64
        var id: UInt128
        static func < (a: Item, b: Item) -> Bool {
            a.expiresAtNs != b.expiresAtNs ? a.expiresAtNs < b.expiresAtNs : a.id < b.id
        }
    }
    var items: [Item] = []

    func peek() -> Item? { items.first }

    mutating func push(_ item: Item) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Item? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count && items[left] < items[smallest] { smallest = left }
            if right < items.count && items[right] < items[smallest] { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
