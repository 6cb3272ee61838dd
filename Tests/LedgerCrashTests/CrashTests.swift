import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Kills a real writer process with SIGKILL at random moments and checks,
/// after each kill: every acknowledged entry is present exactly once, verify
/// passes, and every balance equals the sum of the accepted postings in the log.
/// `CRASH_CYCLES=N` sets the number of cycles (`make soak`); default 50.
@Suite struct CrashTests {
    static var ledgerctlPath: String {
        if let path = ProcessInfo.processInfo.environment["LEDGERCTL"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/ledgerctl").path
    }

    static var cycles: Int { Int(ProcessInfo.processInfo.environment["CRASH_CYCLES"] ?? "") ?? 50 }

    /// Collects a child's standard output on a background thread.
    final class OutputCollector: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        private let finished = DispatchSemaphore(value: 0)

        init(_ handle: FileHandle) {
            Foundation.Thread {
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    self.lock.lock()
                    self.data.append(chunk)
                    self.lock.unlock()
                }
                self.finished.signal()
            }.start()
        }

        var text: String {
            lock.lock()
            defer { lock.unlock() }
            return String(decoding: data, as: UTF8.self)
        }

        func waitForEnd() { finished.wait() }
    }

    /// Runs `ledgerctl stress` and SIGKILLs it: during recovery when
    /// `duringRecovery`, otherwise `delayMs` after it printed `ready`.
    /// Returns the ids it acknowledged (complete lines only).
    static func runAndKill(directory: String, idPrefix: Int, batchSize: Int, delayMs: Int, duringRecovery: Bool) throws -> [UInt128] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ledgerctlPath)
        process.arguments = [
            "stress", "--data-dir", directory, "--accounts", "50", "--batch-size", String(batchSize),
            "--threads", "4", "--id-prefix", String(idPrefix),
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = OutputCollector(pipe.fileHandleForReading)
        if !duringRecovery {
            let deadline = Date().addingTimeInterval(60)
            while !output.text.hasPrefix("ready\n") && process.isRunning && Date() < deadline { usleep(1_000) }
        }
        usleep(UInt32(delayMs * 1000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        output.waitForEnd()
        #expect(process.terminationReason == .uncaughtSignal, "the writer exited by itself: \(process.terminationStatus)")
        var acked: [UInt128] = []
        for line in output.text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {  // the last piece may be partial
            if line == "ready" { continue }
            guard line.hasPrefix("ack "), let id = UInt128(line.dropFirst(4)) else {
                Issue.record("unexpected output line '\(line)'")
                continue
            }
            acked.append(id)
        }
        return acked
    }

    @Test func killedWriterLosesNoAcknowledgedEntry() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.ledgerctlPath), "build ledgerctl first (make test does): \(Self.ledgerctlPath)")
        let directory = NSTemporaryDirectory() + "ledger-crash-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var options = Ledger.Options()
        options.walFileBytes = 1 << 20  // small files: kills also land during WAL rolls
        try Ledger.initialize(at: directory, options: options)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let seed = UInt64(ProcessInfo.processInfo.environment["LEDGER_TEST_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("crash test seed \(seed) (LEDGER_TEST_SEED replays the schedule; kill timing still varies)")
        var rng = SeededRandom(seed: seed)
        var allAcked = Set<UInt128>()
        var ackedInCycles = 0
        for cycle in 0..<Self.cycles {
            let acked = try Self.runAndKill(
                directory: directory, idPrefix: cycle + 1, batchSize: Int.random(in: 1...32, using: &rng),
                delayMs: Int.random(in: 0...250, using: &rng), duringRecovery: Int.random(in: 0..<5, using: &rng) == 0)
            ackedInCycles += acked.isEmpty ? 0 : 1
            allAcked.formUnion(acked)

            // Recovery: every acknowledged entry is present.
            let ledger = try Ledger.open(at: directory)
            let missing = try ledger.missingEntries(Array(allAcked))
            #expect(missing.isEmpty, "cycle \(cycle): \(missing.count) acknowledged entries lost, e.g. \(Array(missing.prefix(3)))")
            try ledger.close()
            let report = try Verifier.verify(at: directory)
            #expect(report.passed, "cycle \(cycle): \(report.problems)")
            if !missing.isEmpty || !report.passed { return }
        }
        #expect(ackedInCycles >= Self.cycles / 2, "too few cycles acknowledged anything: the kills came too early")

        // Exactly once, and balances equal the sum of accepted postings,
        // recomputed here independently of the state machine.
        var okCount: [UInt128: Int] = [:]
        var sums: [UInt128: (debits: UInt128, credits: UInt128)] = [:]
        _ = try WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: directory)).scan(mode: .recover) { record in
            guard record.header.type == WALFormat.recordTypeGroup else { return }
            try WALGroupPayload.forEachBatch(record.payload) { batch in
                var index = 0
                EventBatchReader.forEach(batch.events, eventCount: batch.eventCount) { offset, _ in
                    defer { index += 1 }
                    guard batch.results[index] == ResultCode.ok.rawValue,
                        case .createEntry(let entry) = EventBatchReader.decode(batch.events, at: offset)
                    else { return }
                    okCount[entry.id, default: 0] += 1
                    for posting in entry.postings {
                        var sum = sums[posting.accountID] ?? (0, 0)
                        if posting.side == .debit { sum.debits += posting.amount } else { sum.credits += posting.amount }
                        sums[posting.accountID] = sum
                    }
                }
            }
        }
        let duplicated = allAcked.filter { okCount[$0, default: 0] != 1 }
        #expect(duplicated.isEmpty, "entries not present exactly once: \(Array(duplicated.prefix(3)))")
        #expect(okCount.count >= allAcked.count)
        let ledger = try Ledger.open(at: directory)
        for id in 1...50 {
            let account = try ledger.account(id: UInt128(id))!
            let sum = sums[UInt128(id)] ?? (0, 0)
            #expect(account.debitsPosted == sum.debits && account.creditsPosted == sum.credits, "account \(id)")
        }
        try ledger.close()
        print("crash test: \(Self.cycles) kills, \(allAcked.count) acknowledged entries, \(okCount.count) in the log")
    }
}
