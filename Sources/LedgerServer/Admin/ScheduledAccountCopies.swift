// `LedgerServer --account-copies-interval-ms N`: the account-ordered copy of
// every sealed month held as a segment (Specs/account-copy-format.md) is
// built on a worker thread, off the commit path, at start and then every N
// ms (0: never). The same code as `ledgerctl build-copies`
// (Ledger.buildAccountCopies): a crash leaves at most a `.tmp` that the
// next open deletes. A failure is logged and the next check tries again (a
// failed fsync stops the engine instead: crash-stop).
import Dispatch
import LedgerEngine
import Logging
import Synchronization

final class ScheduledAccountCopies: @unchecked Sendable {
    static let intervalMsDefault = 600_000
    static let intervalMsRange = 10...86_400_000

    private let ledger: Ledger
    private let intervalMs: Int
    private let logger: Logger
    private let queue = DispatchQueue(label: "ledger.account-copies", qos: .utility)
    private var timer: DispatchSourceTimer?
    /// Set by `stop`: a build in progress ends after the month it is copying.
    private let stopping = Atomic<Bool>(false)

    init(ledger: Ledger, intervalMs: Int, logger: Logger) {
        precondition(Self.intervalMsRange.contains(intervalMs), "interval \(intervalMs) ms")
        (self.ledger, self.intervalMs, self.logger) = (ledger, intervalMs, logger)
    }

    func start() {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now(), repeating: .milliseconds(intervalMs))
        timer.setEventHandler { [weak self] in self?.runOnce() }
        timer.resume()
        self.timer = timer
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        timer?.cancel()
        queue.sync {}  // a build in progress ends first
    }

    func runOnce() {
        guard ledger.stopReason == nil else { return }
        do {
            for result in try ledger.buildAccountCopies(continueWhile: { !self.stopping.load(ordering: .relaxed) }) {
                logger.notice("account copy: \(result.month) built (\(result.refCount) refs, \(result.fileBytes) bytes)")
            }
        } catch {
            logger.error("account copy build failed (tried again in \(intervalMs) ms): \(error)")
        }
    }
}
