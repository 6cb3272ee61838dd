// The segment half of `verify` with months checked at the same time, each
// from its predecessor's seal. A sealed month's seal holds the closing
// balances of every account the month touched and every hold open at its
// end, so the state at the start of month k is the seals of months 0..<k
// restored in order (what a read-write open does). Each month is then
// checked on its own thread exactly as the serial check does; the results
// are merged in month order, and the merge is where the months meet the
// log: month k's first record must be the applied event right after month
// k-1's last. By induction the answer is the serial one whenever every seal
// is what its month sums to (each seal is checked). A seal that is not
// (an error) would carry its false balances into every later month's
// check, so the months after it are checked again, one after another, from
// what the month sums to, as the serial check does. A month whose seal does
// not read, or an unsealed month before the last, sends the whole check
// down the serial path.

import Foundation

/// Where one month's check starts: the state the months before it sum to,
/// and the month before it with its root (for the chain link).
struct MonthStart {
    var state = SegmentState()
    var previous: (month: UTCMonth, root: [UInt8])?
}

/// Where a month checked on its own met the log's applied events.
struct LogComparison {
    struct First {
        var lsn: UInt64
        var timestamp: UInt64
        var offset: Int
        var path: String
    }

    /// The month's first record that the log still holds, if any.
    var first: First?
    /// The applied event that record was compared with.
    var start = 0
    /// Records that matched the log, from `start` on.
    var matched = 0
    /// The first record that did not match, as the serial check reports it.
    var mismatch: VerifyReport.Problem?

    static func mismatch(lsn: UInt64, timestamp: UInt64, offset: Int, path: String, cursor: Int) -> VerifyReport.Problem {
        .init(
            severity: .error, file: path, offset: offset, kind: "segment differs from the log",
            message: "record (LSN \(lsn), timestamp \(timestamp)) is not the log's applied event #\(cursor)")
    }
}

extension Verifier {
    /// Months checked at once by `verify` on this machine: one per core, at
    /// most `Limits.verifyMonthsInParallelMax` (each holds its month's index
    /// in memory while it is checked).
    public static var monthsInParallelDefault: Int {
        max(1, min(ProcessInfo.processInfo.activeProcessorCount, Limits.verifyMonthsInParallelMax))
    }

    /// What one month's check found.
    struct MonthOutcome {
        var report = VerifyReport()
        /// False when the months after it cannot be checked.
        var goOn = false
        var log = LogComparison()
        /// What the month sums to: kept for the last month, and for a month
        /// whose seal differs from it (the months after it are checked again
        /// from it).
        var state: SegmentState?
        var sealDiffers = false
    }

    /// Checks month `i` on its own from `start`.
    private static func checkMonth(
        _ i: Int, of months: [(UTCMonth, SegmentForm)], start: MonthStart, keepingState: Bool = false, storage: any Storage, layout: DataDirectoryLayout,
        directoryID: [UInt8], feed: AppliedFeed
    ) throws -> MonthOutcome {
        var check = SegmentCheck(storage: storage, layout: layout, directoryID: directoryID, feed: feed, start: start, checkedAlone: true)
        var outcome = MonthOutcome()
        outcome.goOn = try check.month(months[i].0, form: months[i].1, isLast: i == months.count - 1, report: &outcome.report)
        outcome.log = check.alone ?? LogComparison()
        outcome.sealDiffers = check.sealDiffers
        if keepingState || i == months.count - 1 || outcome.sealDiffers { outcome.state = check.state }
        return outcome
    }

    /// After a month whose seal differs from what it sums to, the months
    /// after it are checked again, in order, from what each sums to.
    private static func recheckAfterFalseSeals(
        _ outcomes: inout [Result<MonthOutcome, Error>?], _ months: [(UTCMonth, SegmentForm)], starts: [MonthStart], storage: any Storage,
        layout: DataDirectoryLayout, directoryID: [UInt8], feed: AppliedFeed
    ) throws {
        guard
            let first = outcomes.indices.first(where: { i in
                guard let outcome = try? outcomes[i]?.get() else { return false }
                return outcome.sealDiffers && outcome.goOn && i + 1 < months.count
            }), var state = try outcomes[first]?.get().state
        else { return }
        for i in (first + 1)..<months.count {
            var start = starts[i]
            start.state = state
            let outcome = Result {
                try checkMonth(
                    i, of: months, start: start, keepingState: true, storage: storage, layout: layout, directoryID: directoryID, feed: feed)
            }
            outcomes[i] = outcome
            guard let checked = try? outcome.get(), checked.goOn, let next = checked.state else {
                for later in (i + 1)..<months.count { outcomes[later] = nil }
                return
            }
            state = next
        }
    }

    /// The state at the start of every month, from the seals before it; nil
    /// when a month before the last has no seal that reads.
    static func monthStarts(
        _ months: [(UTCMonth, SegmentForm)], storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8]
    ) -> [MonthStart]? {
        var starts: [MonthStart] = []
        var start = MonthStart()
        for (month, form) in months {
            starts.append(start)
            guard starts.count < months.count else { break }
            guard let file = try? SegmentFiles.openForReading(month, form: form, storage: storage, layout: layout, directoryID: directoryID)
            else { return nil }
            defer { file.close() }
            guard let seal = try? SegmentReader.readSeal(file: file, expectedDirectoryID: directoryID) else { return nil }
            start.state.restore(sealed: seal)
            start.previous = (month, seal.monthRoot)
        }
        return starts
    }

    /// Checks `months` on up to `threads` threads and merges the outcomes in
    /// month order. Returns the state the segments sum to, as the serial
    /// check does.
    static func verifyMonthsInParallel(
        _ months: [(UTCMonth, SegmentForm)], starts: [MonthStart], threads: Int, storage: any Storage, layout: DataDirectoryLayout,
        directoryID: [UInt8], applied feed: AppliedFeed, report: inout VerifyReport,
        progress: (@Sendable (VerifyProgress) -> Void)?
    ) throws -> SegmentState? {
        precondition(starts.count == months.count && threads > 1, "one start per month")
        let pool = MonthPool(count: months.count, feed: feed)
        let workers = (0..<min(threads, months.count)).map { _ in
            Thread {
                while let i = pool.take() {
                    let outcome = Result {
                        try checkMonth(i, of: months, start: starts[i], storage: storage, layout: layout, directoryID: directoryID, feed: feed)
                    }
                    let done = pool.finish(i, outcome)
                    progress?(VerifyProgress(phase: "segments", done: done, total: months.count))
                }
            }
        }
        for worker in workers { worker.start() }
        for worker in workers { worker.join() }
        var outcomes = pool.outcomes()
        guard !feed.isCancelled else { return nil }
        try recheckAfterFalseSeals(&outcomes, months, starts: starts, storage: storage, layout: layout, directoryID: directoryID, feed: feed)
        return try merge(outcomes, feed: feed, layout: layout, report: &report)
    }

    /// The outcomes in month order, as the serial check would have found
    /// them: up to the first month after which nothing can be checked, and
    /// the log compared from where the months before left it.
    static func merge(
        _ outcomes: [Result<MonthOutcome, Error>?], feed: AppliedFeed, layout: DataDirectoryLayout, report: inout VerifyReport
    ) throws -> SegmentState? {
        var cursor = 0
        var mismatch = false
        var state = SegmentState()
        for outcome in outcomes {
            guard let outcome else { break }  // skipped: a month before it stopped the check
            let month = try outcome.get()
            report.append(month.report)
            if !mismatch, let first = month.log.first {
                if month.log.start != cursor {
                    mismatch = true
                    report.problems.append(
                        LogComparison.mismatch(lsn: first.lsn, timestamp: first.timestamp, offset: first.offset, path: first.path, cursor: cursor))
                } else if let problem = month.log.mismatch {
                    mismatch = true
                    report.problems.append(problem)
                } else {
                    cursor += month.log.matched
                }
            }
            guard month.goOn else { return nil }
            state = month.state ?? state
        }
        return SegmentCheck.finish(feed: feed, cursor: cursor, mismatch: mismatch, state: state, layout: layout, report: &report)
    }
}

extension VerifyReport {
    /// Adds what one month's check found (its segment counts and problems).
    mutating func append(_ month: VerifyReport) {
        segmentFiles += month.segmentFiles
        segmentRecords += month.segmentRecords
        accountCopiesChecked += month.accountCopiesChecked
        monthForms += month.monthForms
        sealedMonths += month.sealedMonths
        problems += month.problems
    }
}

/// The months still to check, handed out oldest first, and the outcomes.
/// Once a month stops the check, or verify stops early, no month is started.
private final class MonthPool: @unchecked Sendable {
    private let feed: AppliedFeed
    private let lock = ConditionLock()
    private var next = 0
    private var stopAfter = Int.max
    private var done = 0
    private var results: [Result<Verifier.MonthOutcome, Error>?]

    init(count: Int, feed: AppliedFeed) {
        self.feed = feed
        results = Array(repeating: nil, count: count)
    }

    func take() -> Int? {
        guard !feed.isCancelled else { return nil }
        return lock.withLock {
            guard next < results.count, next <= stopAfter else { return nil }
            defer { next += 1 }
            return next
        }
    }

    /// Records month `i`'s outcome; returns how many months are done.
    func finish(_ i: Int, _ outcome: Result<Verifier.MonthOutcome, Error>) -> Int {
        lock.withLock {
            results[i] = outcome
            if (try? outcome.get().goOn) != true { stopAfter = min(stopAfter, i) }
            done += 1
            return done
        }
    }

    func outcomes() -> [Result<Verifier.MonthOutcome, Error>?] { lock.withLock { results } }
}
