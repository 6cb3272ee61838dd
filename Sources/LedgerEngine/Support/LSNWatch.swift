// The last LSN that is durable (on a primary) or applied (on a standby),
// with a way to wait for it to move: the replication stream waits here for
// new groups to ship, and a read with a minimum LSN waits here on a standby.
// One lock and one broadcast per group; the waiters are few (one per
// standby connection, one per waiting read).
import Dispatch

public final class LSNWatch: @unchecked Sendable {
    private let condition = ConditionLock()
    private var lsn: UInt64
    private var closed = false

    public init(lsn: UInt64) { self.lsn = lsn }

    public var current: UInt64 { condition.withLock { lsn } }
    /// The ledger closed or stopped: the LSN will not move again.
    public var isClosed: Bool { condition.withLock { closed } }

    /// Moves the LSN forward (never back) and wakes the waiters.
    func advance(to newLSN: UInt64) {
        condition.withLock {
            precondition(newLSN >= lsn, "LSN moved back from \(lsn) to \(newLSN)")
            lsn = newLSN
            condition.broadcast()
        }
    }

    /// Wakes every waiter for good (the ledger closed or stopped).
    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    /// Waits until the LSN is at least `target`, the watch closes, or
    /// `timeoutNs` passes; returns the LSN then.
    public func wait(atLeast target: UInt64, timeoutNs: UInt64) -> UInt64 {
        let deadline = DispatchTime.now().uptimeNanoseconds &+ timeoutNs
        return condition.withLock {
            while lsn < target && !closed {
                let now = DispatchTime.now().uptimeNanoseconds
                if now >= deadline { break }
                condition.wait(timeoutNs: deadline - now)
            }
            return lsn
        }
    }
}
