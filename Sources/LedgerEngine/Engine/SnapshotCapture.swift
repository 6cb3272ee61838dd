// Where an automatic snapshot's state ends while groups are in flight.
//
// A snapshot used to capture the state as a read: on the apply thread once
// no group was in flight, so every capture first waited for the groups
// handed off to be synced and filed, and the commit path waited with it
// (35-139 ms at 4 × 8,189, where filing is the slowest stage;
// Benchmarks/RESULTS.md, issue 13). Now an automatic snapshot captures the
// state at the next gap between groups without waiting: the state then ends
// with the last group the apply thread encoded, which may not be durable
// yet. The snapshot is written only once that group is durable, with that
// group's LSN and chain value (a snapshot is never ahead of the durable
// log). Groups are numbered by the apply thread; the thread that syncs each
// one reports it here.
//
// Only pipeline groups can be in flight: a standby's mirrored records and a
// promotion's timeline record are written with the durable side held by the
// apply thread, when nothing is in flight, and then the capture reads the
// WAL's head itself.

final class SnapshotCapture: @unchecked Sendable {
    private let lock = ConditionLock()
    /// The newest durable group: its number, LSN and chain value.
    private var latest: (number: UInt64, lsn: UInt64, head: [UInt8]) = (0, 0, [])
    private var awaited: UInt64?
    private var found: (lsn: UInt64, head: [UInt8])?
    private var stopped: LedgerError?

    /// The syncing thread: group `number` is durable at `lsn`.
    func groupDurable(number: UInt64, lsn: UInt64, head: [UInt8]) {
        lock.withLock {
            precondition(number > latest.number, "group \(number) after group \(latest.number)")
            latest = (number, lsn, head)
            if awaited == number {
                found = (lsn, head)
                awaited = nil
                lock.broadcast()
            }
        }
    }

    /// The apply thread, at a capture: the state ends with group `number`
    /// (encoded, and durable now or soon).
    func expect(group number: UInt64) {
        lock.withLock {
            precondition(awaited == nil && found == nil, "a capture is already waiting")
            precondition(number >= latest.number, "group \(number) is older than the durable group \(latest.number)")
            if latest.number == number { found = (latest.lsn, latest.head) } else { awaited = number }
        }
    }

    /// The snapshot thread: waits until the expected group is durable;
    /// throws once the engine has stopped instead (that group may never be).
    func awaitDurable() throws -> (lsn: UInt64, head: [UInt8]) {
        try lock.withLock {
            while found == nil && stopped == nil { lock.wait() }
            defer { found = nil }
            if let found { return found }
            awaited = nil
            throw stopped!
        }
    }

    /// The engine stopped: wake a waiting snapshot.
    func stop(because error: LedgerError) {
        lock.withLock {
            if stopped == nil { stopped = error }
            lock.broadcast()
        }
    }
}
