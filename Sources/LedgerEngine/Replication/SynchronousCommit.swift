// Synchronous commit (Specs/replication.md, principle 3): with N required
// standbys, a group's callers are answered only once the group is durable
// here (fdatasync returned) and N standbys have acknowledged an LSN at or
// past it as durable on their disks. One acknowledgment covers every group
// up to its LSN, so the cost is one round trip per standby fsync, not per
// request. With fewer than N standbys connected, groups wait: never a
// silent downgrade to asynchronous.
//
// A value that takes events and returns the waiters to complete, tested
// without threads (SynchronousCommitTests); `Ledger` holds it under a lock.

public struct SynchronousCommit<Waiter> {
    public let required: Int
    /// Durable LSN acknowledged by each connected standby (by key id: one
    /// slot per replication key).
    public private(set) var standbys: [String: UInt64] = [:]
    /// Groups durable here, waiting for standbys, in LSN order.
    private var waiting: [(lsn: UInt64, waiters: [Waiter])] = []
    private var waitingHead = 0

    public init(required: Int) {
        precondition(required >= 0, "required standbys \(required)")
        self.required = required
    }

    /// The highest LSN durable on `required` standbys (0 when fewer are connected).
    public var replicatedLSN: UInt64 {
        guard required > 0 else { return .max }
        guard standbys.count >= required else { return 0 }
        return standbys.values.sorted(by: >)[required - 1]
    }

    /// Requests waiting for acknowledgments.
    public var waitingGroups: Int { waiting.count - waitingHead }

    /// Why writes wait, if they do (for status, metrics and logs).
    public var waitReason: String? {
        guard required > 0, waitingGroups > 0 else { return nil }
        if standbys.count < required { return "\(standbys.count) of \(required) synchronous standbys connected" }
        return "waiting for \(required) standbys to acknowledge LSN \(waiting[waitingHead].lsn) (they hold \(replicatedLSN))"
    }

    /// A group is durable here at `lsn`: its waiters, if they may be
    /// answered now, else nothing (they wait).
    public mutating func groupDurable(lsn: UInt64, waiters: [Waiter]) -> [Waiter] {
        precondition(waiting.last.map { $0.lsn < lsn } ?? true, "group LSN \(lsn) out of order")
        if lsn <= replicatedLSN { return waiters }
        waiting.append((lsn, waiters))
        return []
    }

    /// A standby connected (or reported) with its durable LSN: the waiters
    /// now covered by `required` standbys.
    public mutating func standbyAcknowledged(_ id: String, durableLSN: UInt64) -> [Waiter] {
        standbys[id] = max(standbys[id] ?? 0, durableLSN)
        return release()
    }

    /// A standby's stream ended: it no longer counts until it is back.
    public mutating func standbyDisconnected(_ id: String) { standbys[id] = nil }

    /// Shutdown or stop: every waiter, to be answered `notReplicated`
    /// (durable here, not known durable on the standbys).
    public mutating func drain() -> [Waiter] {
        let all = waiting[waitingHead...].flatMap(\.waiters)
        waiting.removeAll()
        waitingHead = 0
        return all
    }

    private mutating func release() -> [Waiter] {
        let covered = replicatedLSN
        var released: [Waiter] = []
        while waitingHead < waiting.count && waiting[waitingHead].lsn <= covered {
            released += waiting[waitingHead].waiters
            waitingHead += 1
        }
        if waitingHead > 1_024 && waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
        return released
    }
}
