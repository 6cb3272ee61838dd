// `LedgerServer --archive-after-months N`: sealed months older than N
// months (by the wall clock's month) are archived on a worker thread, off
// the commit path, one month at a time, oldest first, with a log line and
// metrics per month. The same code as `ledgerctl archive` (Ledger.archive),
// so the same crash-safety: a kill at any point leaves the month readable
// in one form or both, and the next run finishes it. Checked at start and
// then every `intervalMs`; a failure is logged and counted, and the next
// check tries again (a failed fsync stops the engine instead: crash-stop).
import Dispatch
import LedgerEngine
import Logging

final class ScheduledArchival: @unchecked Sendable {
    struct Settings: Sendable {
        /// Months kept as segments before the current one (0: archive every sealed month).
        var afterMonths: Int
        var codec: CompressionCodec
        var level: Int
        var intervalMs: Int
    }

    private let ledger: Ledger
    private let settings: Settings
    private let telemetry: ServerTelemetry
    private let logger: Logger
    private let queue = DispatchQueue(label: "ledger.scheduled-archival", qos: .utility)
    private var timer: DispatchSourceTimer?

    init(ledger: Ledger, settings: Settings, telemetry: ServerTelemetry, logger: Logger) {
        precondition(settings.afterMonths >= 0 && settings.intervalMs >= 10 && settings.codec.levels.contains(settings.level), "\(settings)")
        (self.ledger, self.settings, self.telemetry, self.logger) = (ledger, settings, telemetry, logger)
    }

    func start() {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now(), repeating: .milliseconds(settings.intervalMs))
        timer.setEventHandler { [weak self] in self?.runOnce() }
        timer.resume()
        self.timer = timer
    }

    func stop() {
        timer?.cancel()
        queue.sync {}  // a run in progress ends first
    }

    /// The months before which sealed months are archived, as of now.
    static func cutoff(nowNs: UInt64, afterMonths: Int) -> UTCMonth {
        UTCMonth(number: max(UTCMonth(year: 1970, month: 1).number, UTCMonth(containing: nowNs).number - afterMonths))
    }

    func runOnce() {
        guard ledger.stopReason == nil else { return }
        let before = Self.cutoff(nowNs: Ledger.wallClockNs(), afterMonths: settings.afterMonths)
        do {
            for month in try ledger.monthsToArchive(before: before) {
                for result in try ledger.archive(before: month.next, codec: settings.codec, level: settings.level) {
                    telemetry.monthArchived(segmentBytes: result.segmentBytes, archiveBytes: result.archiveBytes)
                    logger.notice(
                        "scheduled archival: \(result.month) archived (\(result.codec) \(result.level): \(result.segmentBytes) → \(result.archiveBytes) bytes)")
                }
            }
        } catch {
            telemetry.archivalFailed()
            logger.error("scheduled archival failed (tried again in \(settings.intervalMs) ms): \(error)")
        }
    }
}
