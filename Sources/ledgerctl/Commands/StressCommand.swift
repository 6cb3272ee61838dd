import ArgumentParser
import Foundation
import LedgerEngine

/// Posts random transfers until killed or `--count` is reached. Prints `ready`
/// once recovery is done, then `ack <entry id>` for each accepted entry, only
/// after its batch is durable.
/// Used by the crash test (which SIGKILLs it) and for manual load.
struct StressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress", abstract: "Post random transfers; print 'ack ID' per durable entry (for crash tests).")

    @OptionGroup var directory: DataDirectoryOptions
    @Option(help: "Accounts 1...N, created if missing.") var accounts: Int = 100
    @Option(help: "Entries per batch.") var batchSize: Int = 8
    @Option(help: "Submitting threads.") var threads: Int = 4
    @Option(help: "Stop after this many batches per thread (0: run until killed).") var count: Int = 0
    @Option(help: "High 64 bits of every entry id, so runs never collide.") var idPrefix: UInt64 = 1
    // A warped clock, for kill tests that need months to pass in seconds:
    // engine time = start + (wall time − anchor) × warp. The anchor is fixed
    // by the test, so time keeps moving forward across restarts.
    @Option(help: .hidden) var clockStartNs: UInt64?
    @Option(help: .hidden) var clockAnchorNs: UInt64 = 0
    @Option(help: .hidden) var clockWarp: UInt64 = 1

    func run() throws {
        guard (2...Limits.accountsMax).contains(accounts), (1...Limits.batchEventsMax).contains(batchSize), (1...64).contains(threads) else {
            throw ValidationError("accounts 2...\(Limits.accountsMax), batch size 1...\(Limits.batchEventsMax), threads 1...64")
        }
        try runReportingErrors {
            var clock: (@Sendable () -> UInt64)?
            if let start = clockStartNs {
                let (anchor, warp) = (clockAnchorNs, clockWarp)
                clock = { start &+ (Ledger.wallClockNs() &- anchor) &* warp }
            }
            let ledger = try openLedger(directory, clock: clock)
            // In batches the engine takes (--accounts may exceed one batch).
            for first in stride(from: 1, through: accounts, by: Limits.batchEventsMax) {
                var opening = EventBatch()
                for id in first...min(accounts, first + Limits.batchEventsMax - 1) { opening.append(NewAccount(id: UInt128(id), ledger: 840, code: 1)) }
                _ = try ledger.submitAndWait(opening)
            }
            FileHandle.standardOutput.write(Data("ready\n".utf8))
            let output = ConditionLock()
            let group = DispatchGroup()
            for thread in 0..<threads {
                group.enter()
                let worker = LedgerEngine.Thread {
                    var rng = SystemRandomNumberGenerator()
                    var sequence: UInt64 = 0
                    var batches = 0
                    while count == 0 || batches < count {
                        var batch = EventBatch()
                        var ids: [UInt128] = []
                        for _ in 0..<batchSize {
                            sequence += 1
                            let id = UInt128(idPrefix) << 64 | UInt128(UInt64(thread) << 48 | sequence)
                            let from = UInt128(Int.random(in: 1...accounts, using: &rng))
                            var to = UInt128(Int.random(in: 1...accounts, using: &rng))
                            if to == from { to = from % UInt128(accounts) + 1 }
                            let amount = UInt128(Int.random(in: 1...1000, using: &rng))
                            batch.append(NewEntry(id: id, postings: [.debit(from, amount), .credit(to, amount)]))
                            ids.append(id)
                        }
                        guard let results = try? ledger.submitAndWait(batch) else { break }
                        // Written unbuffered, so a SIGKILL never loses an ack that was printed.
                        var lines = ""
                        for (id, result) in zip(ids, results) where result == .ok { lines += "ack \(id)\n" }
                        output.withLock { FileHandle.standardOutput.write(Data(lines.utf8)) }
                        batches += 1
                    }
                    group.leave()
                }
                worker.start()
            }
            group.wait()
            try ledger.close()
        }
    }
}
