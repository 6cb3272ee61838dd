import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Real processes killed inside sealing and inside archival or restore.
/// Each kill lands either at a named crash point (`CrashPoints`: the process
/// SIGKILLs itself there) or, when the point is not reached in time, by our
/// SIGKILL. After each: recovery, every acknowledged entry present, every
/// query answering as before, `verify` passing.
@Suite struct SealAndArchiveCrashTests {
    static var cycles: Int { max(20, Int(ProcessInfo.processInfo.environment["CRASH_CYCLES"] ?? "") ?? 20) }

    static var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["LEDGER_TEST_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max) }

    /// Runs ledgerctl with `LEDGER_CRASH_AT=crashAt`; SIGKILLs it after
    /// `killAfterMs` if it is still running. Returns its standard output and
    /// whether it died at the crash point (killed by a signal we did not send).
    static func run(_ arguments: [String], crashAt: String, killAfterMs: Int) throws -> (output: String, diedAtPoint: Bool, exitStatus: Int32?) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CrashTests.ledgerctlPath)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LEDGER_CRASH_AT"] = crashAt
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = CrashTests.OutputCollector(pipe.fileHandleForReading)
        let deadline = Date().addingTimeInterval(Double(killAfterMs) / 1000)
        while process.isRunning && Date() < deadline { usleep(1_000) }
        var weKilled = false
        if process.isRunning {
            weKilled = true
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        output.waitForEnd()
        let signalled = process.terminationReason == .uncaughtSignal
        return (output.text, signalled && !weKilled, signalled ? nil : process.terminationStatus)
    }

    static func acknowledged(_ output: String) -> [UInt128] {
        output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().compactMap { line in
            line.hasPrefix("ack ") ? UInt128(line.dropFirst(4)) : nil
        }
    }

    /// The outcome of `stressKillCycles`, for each test's own checks.
    struct StressKillOutcome {
        var report: VerifyReport
        var diedAtPoint: Int
        var acknowledged: Int
    }

    /// Runs `ledgerctl stress` (warped clock) `cycles` times on a fresh
    /// directory, each run set to die at a random one of `points` (its
    /// `count` th time, from `counts`); after each: every acknowledged entry is
    /// present and `verify` passes. Returns the final verify report.
    static func stressKillCycles(
        name: String, walFileBytes: Int, points: [String], counts: ClosedRange<Int>, batchSizes: ClosedRange<Int>, clockWarp: Int
    ) throws -> StressKillOutcome? {
        #expect(FileManager.default.isExecutableFile(atPath: CrashTests.ledgerctlPath), "build ledgerctl first (make test does)")
        let directory = NSTemporaryDirectory() + "ledger-\(name)-crash-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var options = Ledger.Options()
        options.walFileBytes = walFileBytes
        try Ledger.initialize(at: directory, options: options)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let seed = Self.seed
        print("\(name) crash test seed \(seed)")
        var rng = SeededRandom(seed: seed)
        let anchor = Ledger.wallClockNs()
        let start = UTCMonth(year: 2026, month: 9).startNs
        var allAcked = Set<UInt128>()
        var diedAtPoint = 0
        for cycle in 0..<Self.cycles {
            let point = points[Int.random(in: 0..<points.count, using: &rng)]
            let (output, died, _) = try Self.run(
                [
                    "stress", "--data-dir", directory, "--accounts", "40", "--batch-size", String(Int.random(in: batchSizes, using: &rng)),
                    "--threads", "2", "--id-prefix", String(cycle + 1), "--clock-start-ns", String(start), "--clock-anchor-ns", String(anchor),
                    "--clock-warp", String(clockWarp),
                ],
                crashAt: "\(point):\(Int.random(in: counts, using: &rng))", killAfterMs: 15_000)
            diedAtPoint += died ? 1 : 0
            allAcked.formUnion(Self.acknowledged(output))

            let ledger = try Ledger.open(at: directory)
            let missing = try ledger.missingEntries(Array(allAcked))
            #expect(missing.isEmpty, "cycle \(cycle) (\(point)): \(missing.count) acknowledged entries lost")
            try ledger.close()
            let report = try Verifier.verify(at: directory)
            #expect(report.passed, "cycle \(cycle) (\(point)): \(report.problems)")
            if !missing.isEmpty || !report.passed { return nil }
        }
        return StressKillOutcome(report: try Verifier.verify(at: directory), diedAtPoint: diedAtPoint, acknowledged: allAcked.count)
    }

    @Test func killedWhileSealingLosesNoAcknowledgedEntry() throws {
        // A month of engine time every ~130 ms of wall time.
        guard
            let outcome = try Self.stressKillCycles(
                name: "seal", walFileBytes: 1 << 20, points: CrashPoints.sealing, counts: 1...2, batchSizes: 1...16, clockWarp: 20_000_000)
        else { return }
        #expect(outcome.report.sealedMonths.count >= 3, "months did not roll: \(outcome.report.sealedMonths.count) sealed")
        #expect(outcome.diedAtPoint >= Self.cycles / 2, "only \(outcome.diedAtPoint) of \(Self.cycles) processes died inside sealing")
        print(
            "seal crash test: \(Self.cycles) kills, \(outcome.diedAtPoint) at a sealing crash point, \(outcome.acknowledged) acknowledged, \(outcome.report.sealedMonths.count) months sealed"
        )
    }

    @Test func killedWhileSnapshottingOrCompactingLosesNoAcknowledgedEntry() throws {
        // 64 KiB WAL files: automatic snapshots every 4 files (256 KiB of WAL), many per run.
        guard
            let outcome = try Self.stressKillCycles(
                name: "snapshot", walFileBytes: 64 << 10, points: CrashPoints.snapshotting, counts: 1...1, batchSizes: 32...128, clockWarp: 2_000_000)
        else { return }
        #expect(outcome.report.snapshotFiles >= 1 && outcome.report.replayStartLSN > 0, "snapshots and compaction never happened")
        #expect(outcome.diedAtPoint >= Self.cycles * 3 / 4, "only \(outcome.diedAtPoint) of \(Self.cycles) died at a snapshot or compaction crash point")
        print(
            "snapshot crash test: \(Self.cycles) kills, \(outcome.diedAtPoint) at a crash point, \(outcome.acknowledged) acknowledged, \(outcome.report.snapshotFiles) snapshots, replay from LSN \(outcome.report.replayStartLSN)"
        )
    }

    @Test func killedWhileArchivingOrRestoringLeavesEveryMonthReadable() throws {
        #expect(FileManager.default.isExecutableFile(atPath: CrashTests.ledgerctlPath), "build ledgerctl first (make test does)")
        let directory = NSTemporaryDirectory() + "ledger-archive-crash-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let seed = Self.seed
        print("archive crash test seed \(seed)")
        var rng = SeededRandom(seed: seed)
        // Four months of history, written with a test clock.
        let clock = TestClock(UTCMonth(year: 2026, month: 9).startNs + 20 * 86_400 * 1_000_000_000)
        var options = Ledger.Options()
        options.walFileBytes = 1 << 20
        options.clock = { clock.read() }
        try Ledger.initialize(at: directory, options: options)
        var ledger = try Ledger.open(at: directory, options: options)
        var workload = MultiMonthWorkload(seed: seed, accountCount: 30)
        try workload.createAccounts(ledger)
        try workload.run(ledger, clock: clock, batches: 600, stepNsMax: 30_000 * 1_000_000_000)
        let histories = try (1...workload.accountCount).map { try ledger.history(account: UInt128($0), limit: 1_000_000).items }
        try ledger.close()
        let months = try SegmentFiler.months(storage: POSIXStorage(), layout: DataDirectoryLayout(root: directory))
        #expect(months.count >= 4, "\(months)")
        let sealed = months.dropLast()

        var diedAtPoint = 0
        var formsSeen = Set<String>()
        for cycle in 0..<Self.cycles {
            let forms = try SegmentFiles.months(storage: POSIXStorage(), layout: DataDirectoryLayout(root: directory))
            let archived = forms.filter { $0.form != .segment }.map(\.month)
            // Months a run of `archive` would still write (finishing one left
            // in both forms writes nothing, so it reaches fewer points).
            let toWrite = forms.dropLast().filter { $0.form == .segment }.count
            let restoring = !archived.isEmpty && (toWrite == 0 || Bool.random(using: &rng))
            let arguments: [String]
            let crashAt: String
            if restoring {
                let month = archived[Int.random(in: 0..<archived.count, using: &rng)]
                let both = forms.first { $0.month == month }!.form == .both
                arguments = ["restore", "--data-dir", directory, "--month", month.description]
                // Restoring a month left in both forms skips the writing steps.
                let points =
                    both
                    ? ["archive.compared", "restore.archiveRemoved"]
                    : ["restore.segmentWritten", "restore.renamed", "archive.compared", "restore.archiveRemoved"]
                crashAt = points[Int.random(in: 0..<points.count, using: &rng)] + ":1"
            } else {
                let codec = Bool.random(using: &rng) ? "zstd" : "lz4"
                arguments = ["archive", "--data-dir", directory, "--before", months.last!.description, "--codec", codec, "--frame-kib", "4"]
                let point = ["archive.framesWritten", "archive.renamed", "archive.compared", "archive.segmentRemoved"][Int.random(in: 0..<4, using: &rng)]
                crashAt = "\(point):\(Int.random(in: 1...toWrite, using: &rng))"
            }
            let point = crashAt
            let (_, died, status) = try Self.run(arguments, crashAt: crashAt, killAfterMs: 20_000)
            diedAtPoint += died ? 1 : 0
            #expect(died || status == 0, "cycle \(cycle): \(arguments[0]) failed with status \(status.map { "\($0)" } ?? "signal")")

            let report = try Verifier.verify(at: directory)
            #expect(report.passed, "cycle \(cycle) (\(arguments[0]) at \(point)): \(report.problems)")
            for (_, form) in report.monthForms { formsSeen.insert(VerifyReportForms.name(form)) }
            ledger = try Ledger.open(at: directory)
            let reread = try (1...workload.accountCount).map { try ledger.history(account: UInt128($0), limit: 1_000_000).items }
            #expect(reread == histories, "cycle \(cycle) (\(arguments[0]) at \(point)): history changed")
            let missing = try ledger.missingEntries(Array(workload.appliedEntryIDs))
            #expect(missing.isEmpty, "cycle \(cycle): entries lost")
            try ledger.close()
            if !report.passed || reread != histories { return }
        }
        #expect(diedAtPoint == Self.cycles, "only \(diedAtPoint) of \(Self.cycles) died at their archival crash point")
        #expect(formsSeen.isSuperset(of: ["segment", "archive", "both"]), "forms seen: \(formsSeen)")
        #expect(sealed.count >= 3)
        print("archive crash test: \(Self.cycles) kills, \(diedAtPoint) at a crash point, forms seen \(formsSeen.sorted())")
    }
}

enum VerifyReportForms {
    static func name(_ form: SegmentForm) -> String {
        switch form {
        case .segment: "segment"
        case .archive: "archive"
        case .both: "both"
        }
    }
}
