// `LedgerServer --account-copies-interval-ms N`: the account-ordered copy of
// every sealed month held as a segment (Specs/account-copy-format.md) is
// built on a thread of its own, off the commit path, at start and then every
// N ms (0: never). The same code as `ledgerctl build-copies`
// (Ledger.buildAccountCopies): a crash leaves at most a `.tmp` that the next
// open deletes. A failure is logged and the next check tries again (a
// failed fsync stops the engine instead: crash-stop).
//
// The thread runs at nice 19 (Linux: a per-thread attribute): on two cores a
// build at normal priority took ~45% of batch-8,189 throughput while it ran
// (Benchmarks/RESULTS.md, issue 13, session 13). It is its own pthread, not
// a Dispatch worker, because an unprivileged process cannot lower a nice
// value again, and a Dispatch worker serves other queues afterwards.
import Glibc
import LedgerEngine
import Logging

final class ScheduledAccountCopies: @unchecked Sendable {
    static let intervalMsDefault = 600_000
    static let intervalMsRange = 10...86_400_000
    static let niceValue: Int32 = 19

    private let ledger: Ledger
    private let intervalMs: Int
    private let logger: Logger
    private let lock = ConditionLock()
    private var stopping = false  // guarded by `lock`
    private var thread: LedgerEngine.Thread?

    init(ledger: Ledger, intervalMs: Int, logger: Logger) {
        precondition(Self.intervalMsRange.contains(intervalMs), "interval \(intervalMs) ms")
        (self.ledger, self.intervalMs, self.logger) = (ledger, intervalMs, logger)
    }

    func start() {
        let thread = LedgerEngine.Thread { [self] in
            if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.niceValue) != 0 {
                logger.warning("account copies: nice \(Self.niceValue) not set (errno \(errno)); building at normal priority")
            }
            while !isStopping {
                runOnce()
                lock.withLock { if !stopping { lock.wait(timeoutNs: UInt64(intervalMs) * 1_000_000) } }
            }
        }
        thread.start()
        self.thread = thread
    }

    /// A build in progress ends after the month it is copying.
    func stop() {
        lock.withLock {
            stopping = true
            lock.signal()
        }
        thread?.join()
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    func runOnce() {
        guard ledger.stopReason == nil else { return }
        do {
            // The engine logs each month it copies.
            try ledger.buildAccountCopies(continueWhile: { !isStopping })
        } catch {
            logger.error("account copy build failed (tried again in \(intervalMs) ms): \(error)")
        }
    }
}
