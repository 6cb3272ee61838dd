// A sealed month's index file, written off the filing thread.
//
// Sealing a month of ~2M entries held the filing thread for 1.1–2.3 s, four
// fifths of it the month's index: encoding it (~0.5 s) and writing ~160 MB
// into fresh page cache (0.3–1.5 s on this VM). Meanwhile the group buffers
// ran out and every commit waited (Benchmarks/RESULTS.md, session 16). The
// index is derived from the sealed segment, and an open rebuilds a missing
// or damaged one from it, so nothing durable waits for the index: the seal
// record is written and synced on the filing thread as before (the next
// month's segment is created only after it), the index here.
//
// Whoever reads a sealed month's index file waits for a pending write first
// (`awaitWritten`): reads of the segments (`Ledger.readSegments`), a base
// backup's list, lookups of evicted ids, close and the end of an open. At
// most one write is pending: the next seal waits for it (months are large;
// only tests seal months back to back). A failure is kept, every waiter gets
// it, and `onFailure` stops the engine (crash-stop, as a failure on the
// filing thread would).

final class SealedIndexWriter: @unchecked Sendable {
    private let lock = ConditionLock()
    private var pending: UTCMonth?
    private var failure: LedgerError?
    /// Told of a failed write, after every waiter was woken. Set before the
    /// first `submit`.
    var onFailure: (@Sendable (LedgerError) -> Void)?
    /// Told of each finished write (the lookups of evicted ids let go of
    /// the table they kept meanwhile). Set before the first `submit`.
    var onWritten: (@Sendable () -> Void)?

    /// Runs `write` (the month's index file, made durable) on a thread of its
    /// own, after any earlier pending write finished. Throws an earlier
    /// write's failure. Not `@Sendable`: `write` takes the month's index
    /// builder, which the filer hands over (it keeps no reference to it).
    func submit(_ month: UTCMonth, _ write: @escaping () throws -> Void) throws {
        try lock.withLock {
            while pending != nil && failure == nil { lock.wait() }
            if let failure { throw failure }
            pending = month
        }
        let (onFailure, onWritten) = (self.onFailure, self.onWritten)
        Thread { [self] in
            do {
                try write()
                finish(month, failure: nil)
                onWritten?()
            } catch {
                let failure = error as? LedgerError ?? LedgerError(.io, "writing the index of \(month): \(error)")
                // Waiters first: one may hold a lock that stopping takes
                // (an evicted-id lookup holds the lookups' lock).
                finish(month, failure: failure)
                onFailure?(failure)
            }
        }.startDetached()
    }

    private func finish(_ month: UTCMonth, failure: LedgerError?) {
        lock.withLock {
            precondition(pending == month, "index write of \(month) finished, but \(pending.map { "\($0)" } ?? "none") was pending")
            pending = nil
            if self.failure == nil { self.failure = failure }
            lock.broadcast()
        }
    }

    /// Returns once no index write is pending (`month`: once that month's is
    /// not); throws a failed write's error.
    func awaitWritten(_ month: UTCMonth? = nil) throws {
        try lock.withLock {
            while let pending, month == nil || pending == month, failure == nil { lock.wait() }
            if let failure { throw failure }
        }
    }

    /// The month whose index is being written, if any (for tests and reports).
    var pendingMonth: UTCMonth? { lock.withLock { pending } }
}
