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
    /// Callbacks waiting for the LSN to reach their target (reads with a
    /// minimum LSN), by token; bounded by the server's in-flight limits.
    private var callbacks: [UInt64: (target: UInt64, action: @Sendable (UInt64) -> Void)] = [:]
    private var nextToken: UInt64 = 0

    /// A registered callback, to cancel at its deadline.
    public struct Token: Sendable, Hashable { let value: UInt64 }

    public init(lsn: UInt64) { self.lsn = lsn }

    public var current: UInt64 { condition.withLock { lsn } }
    /// The ledger closed or stopped: the LSN will not move again.
    public var isClosed: Bool { condition.withLock { closed } }

    /// Moves the LSN forward (never back) and wakes the waiters.
    func advance(to newLSN: UInt64) {
        let due = condition.withLock { () -> [@Sendable (UInt64) -> Void] in
            precondition(newLSN >= lsn, "LSN moved back from \(lsn) to \(newLSN)")
            lsn = newLSN
            condition.broadcast()
            return callbacks.isEmpty ? [] : takeCallbacks { $0 <= newLSN }
        }
        for action in due { action(newLSN) }
    }

    /// Wakes every waiter for good (the ledger closed or stopped).
    func close() {
        let (due, at) = condition.withLock { () -> ([@Sendable (UInt64) -> Void], UInt64) in
            closed = true
            condition.broadcast()
            return (takeCallbacks { _ in true }, lsn)
        }
        for action in due { action(at) }
    }

    private func takeCallbacks(where isDue: (UInt64) -> Bool) -> [@Sendable (UInt64) -> Void] {
        let due = callbacks.filter { isDue($0.value.target) }
        for token in due.keys { callbacks[token] = nil }
        return due.values.map(\.action)
    }

    /// Runs `action` with the LSN once it reaches `target` or the watch
    /// closes, on the thread that moved it (so `action` must only hand
    /// off); returns nil, without running it, when the LSN is there already.
    /// Holds no thread while it waits: reads waiting on a standby for their
    /// minimum LSN cost a callback each, not a worker.
    public func whenReached(_ target: UInt64, _ action: @escaping @Sendable (UInt64) -> Void) -> Token? {
        condition.withLock {
            guard lsn < target && !closed else { return nil }
            nextToken += 1
            callbacks[nextToken] = (target, action)
            return Token(value: nextToken)
        }
    }

    /// Drops a callback at its deadline: true when it had not run (and now
    /// never will), false when the LSN or a close got there first.
    public func cancel(_ token: Token) -> Bool {
        condition.withLock { callbacks.removeValue(forKey: token.value) != nil }
    }

    /// Callbacks registered and not yet run or cancelled (for tests).
    public var pendingCallbacks: Int { condition.withLock { callbacks.count } }

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
