import ArgumentParser
import Foundation
import LedgerEngine
import LedgerProtocol

#if canImport(Glibc)
    import Glibc
#endif

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every WAL checksum, replay the log, and compare every balance with the index (the ledger watchdog).",
        discussion: "Read-only. Exits 0 only when no error is found (warnings, such as a torn tail, do not fail it).")

    @OptionGroup var directory: DataDirectoryOptions
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "Months checked at once, 1 to \(Limits.verifyMonthsInParallelMax) (each holds its month's index in memory; default: one per core).")
    var monthsInParallel = Verifier.monthsInParallelDefault
    @OptionGroup var remote: RemoteOptions

    func validate() throws {
        guard (1...Limits.verifyMonthsInParallelMax).contains(monthsInParallel) else {
            throw ValidationError("--months-in-parallel must be 1 to \(Limits.verifyMonthsInParallelMax)")
        }
    }

    func run() throws {
        // Online: a running server verifies itself up to its durable LSN
        // while it keeps committing (admin key; Specs/protocol.md).
        if remote.isRemote { return try RemoteAdmin.run(.verify, remote) }
        let showProgress = !json && isatty(STDERR_FILENO) == 1
        let display = VerifyProgressDisplay()
        let update: @Sendable (VerifyProgress) -> Void = { display.update($0) }
        let progress: (@Sendable (VerifyProgress) -> Void)? = showProgress ? update : nil
        try runReportingErrors {
            let report = try Verifier.verify(at: directory.dataDirectory, monthsInParallel: monthsInParallel, progress: progress)
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            if json {
                print(Self.json(report).text)
            } else {
                print("WAL: \(report.walFiles) files, \(report.walRecords) records, \(report.walBytes) bytes, last LSN \(report.lastLSN)")
                print(
                    "state: \(report.accounts) accounts, \(report.entries) entries (in memory and in sealed months), \(report.openHolds) open holds; resident window \(report.residentWindowMonths) month\(report.residentWindowMonths == 1 ? "" : "s") (ledger.meta)"
                )
                for t in report.ledgers {
                    let balanced = t.debitsPosted == t.creditsPosted && t.debitsPending == t.creditsPending
                    print(
                        "ledger \(t.ledger): debits posted \(t.debitsPosted) = credits posted \(t.creditsPosted), pending \(t.debitsPending) = \(t.creditsPending) \(balanced ? "balanced" : "UNBALANCED")"
                    )
                }
                print("chain: SHA-256 head \(report.chainHead) at LSN \(report.chainLSN)")
                print(
                    "segments: \(report.segmentFiles) months, \(report.segmentRecords) records compared with the log, \(report.accountCopiesChecked) account copies checked"
                )
                for (month, form) in report.monthForms { print("  \(month): \(form)") }
                print("watchdog: \(report.indexSlotsChecked) index balances compared with the log")
                for problem in report.problems { print(problem.description) }
                print(report.passed ? "verify: OK" : "verify: FAILED (\(report.problems.filter { $0.severity == .error }.count) errors)")
            }
            if !report.passed { throw ExitCode(1) }
        }
    }

    static func formName(_ form: SegmentForm) -> String {
        switch form {
        case .segment: "segment"
        case .archive: "archive"
        case .both: "both"
        }
    }

    static func json(_ report: VerifyReport) -> JSONValue {
        .object([
            ("passed", .bool(report.passed)),
            (
                "wal",
                .object([
                    ("files", .int(report.walFiles)), ("records", .int(report.walRecords)), ("bytes", .int(report.walBytes)),
                    ("lastLSN", .string(String(report.lastLSN))),
                ])
            ),
            ("accounts", .int(report.accounts)), ("entries", .int(report.entries)), ("openHolds", .int(report.openHolds)),
            ("residentWindowMonths", .int(report.residentWindowMonths)),
            ("indexSlotsChecked", .int(report.indexSlotsChecked)),
            ("chain", .object([("head", .string(report.chainHead)), ("lsn", .string(String(report.chainLSN)))])),
            (
                "segments",
                .object([
                    ("files", .int(report.segmentFiles)), ("records", .int(report.segmentRecords)), ("accountCopies", .int(report.accountCopiesChecked)),
                    ("months", .array(report.monthForms.map { .object([("month", .string($0.month)), ("form", .string(Self.formName($0.form)))]) })),
                ])
            ),
            (
                "ledgers",
                .array(
                    report.ledgers.map { t in
                        .object([
                            ("ledger", .int(Int(t.ledger))), ("debitsPosted", .u128(t.debitsPosted)), ("creditsPosted", .u128(t.creditsPosted)),
                            ("debitsPending", .u128(t.debitsPending)), ("creditsPending", .u128(t.creditsPending)),
                        ])
                    })
            ),
            (
                "problems",
                .array(
                    report.problems.map { p in
                        .object([
                            ("severity", .string(p.severity.rawValue)), ("file", .string(p.file)), ("offset", p.offset.map { .int($0) } ?? .null),
                            ("kind", .string(p.kind)), ("message", .string(p.message)),
                        ])
                    })
            ),
        ])
    }
}

/// One line on standard error (only on a terminal) with every phase's
/// progress: the WAL and the segments advance at the same time.
final class VerifyProgressDisplay: @unchecked Sendable {
    private let lock = NSLock()
    private var phases: [(name: String, done: Int, total: Int)] = []

    func update(_ progress: VerifyProgress) {
        lock.lock()
        defer { lock.unlock() }
        if let i = phases.firstIndex(where: { $0.name == progress.phase }) {
            phases[i] = (progress.phase, progress.done, progress.total)
        } else {
            phases.append((progress.phase, progress.done, progress.total))
        }
        let line = phases.map { "\($0.name) \($0.done)/\($0.total)" }.joined(separator: " · ")
        FileHandle.standardError.write(Data("\r\u{1B}[Kverify: \(line)".utf8))
    }
}
