import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// A randomized whole-engine simulation: the real engine on the SimulatedDisk
/// runs submissions across months (so months seal), archival, snapshots with
/// WAL compaction, clean restarts and crashes that drop or tear unsynced
/// writes, failed fsyncs (EIO), a full disk (ENOSPC) and bit flips on read,
/// checked after every recovery against a model of every balance and every
/// acknowledged id.
///
/// `make test` runs 200 seeds; `make soak SEEDS=N` runs N. A failing seed is
/// printed and replays alone with `LEDGER_SIM_SEED=<seed>`.
@Suite struct EngineSimulationTests {
    static let accountCount = 6
    static let root = "/sim/engine"

    /// What the engine must hold: every acknowledged entry, and the balances
    /// they add up to (posted transfers only, no overdraft flags, so every
    /// submitted entry is accepted exactly once).
    struct Model {
        var debits = [UInt128](repeating: 0, count: accountCount + 1)
        var credits = [UInt128](repeating: 0, count: accountCount + 1)
        var acked: [UInt128] = []
        /// Submitted when the engine stopped: applied or not, recovery decides.
        var uncertain: [(id: UInt128, from: Int, to: Int, amount: UInt128)] = []

        mutating func apply(from: Int, to: Int, amount: UInt128) {
            debits[from] += amount
            credits[to] += amount
        }
    }

    static func options(_ clock: TestClock) -> Ledger.Options {
        var options = Ledger.Options()
        options.walFileBytes = 64 * 1024
        options.indexCheckpointGroups = 4
        options.snapshotIntervalWALBytes = 0  // snapshots are the simulation's steps (a crash cannot stop that thread)
        options.clock = { clock.read() }
        return options
    }

    /// Runs one seed; nil when every check held, else what broke.
    static func run(seed: UInt64) throws -> String? {
        var rng = SeededRandom(seed: seed)
        let disk = SimulatedDisk(seed: seed)
        let clock = TestClock(UTCMonth(year: 2026, month: 1).startNs + 86_400_000_000_000)
        try Ledger.initialize(at: root, storage: disk, options: options(clock))
        var ledger = try Ledger.open(at: root, storage: disk, options: options(clock))
        _ = try ledger.submitAndWait(EventBatch((1...accountCount).map { usd(UInt128($0)) }))
        var model = Model()
        var nextID: UInt128 = 10_000
        var steps: [String] = []

        /// `count` new transfers between neighbouring accounts.
        func transfers(_ count: Int) -> [(id: UInt128, from: Int, to: Int, amount: UInt128)] {
            (0..<count).map { _ in
                nextID += 1
                let from = Int.random(in: 1...accountCount, using: &rng)
                return (nextID, from, from % accountCount + 1, UInt128(Int.random(in: 1...100_000, using: &rng)))
            }
        }

        /// Reopens after a fault and checks the engine against the model.
        /// After a crash the old engine's threads are reaped first (its
        /// handles are stale, so its close writes nothing and throws).
        func recover(_ what: String, crashed: Bool = true) throws -> String? {
            if crashed { try? ledger.close() }
            ledger = try Ledger.open(at: root, storage: disk, options: options(clock))
            // Each uncertain entry is either there once or not at all.
            let notThere = Set(try ledger.missingEntries(model.uncertain.map(\.id)))
            for entry in model.uncertain where !notThere.contains(entry.id) {
                model.apply(from: entry.from, to: entry.to, amount: entry.amount)
                model.acked.append(entry.id)
            }
            model.uncertain = []
            let missing = try ledger.missingEntries(model.acked)
            guard missing.isEmpty else { return "after \(what): \(missing.count) acknowledged entries lost" }
            for account in 1...accountCount {
                guard let state = try ledger.account(id: UInt128(account)) else { return "after \(what): account \(account) lost" }
                guard state.debitsPosted == model.debits[account], state.creditsPosted == model.credits[account] else {
                    return
                        "after \(what): account \(account) has \(state.debitsPosted)/\(state.creditsPosted), the model \(model.debits[account])/\(model.credits[account])"
                }
            }
            return nil
        }

        let trace = ProcessInfo.processInfo.environment["LEDGER_SIM_TRACE"] != nil
        var stepStarted = ContinuousClock.now
        for _ in 0..<stepsPerSeed {
            if trace, let last = steps.last { print("sim \(seed) \(last): \(ContinuousClock.now - stepStarted)") }
            stepStarted = ContinuousClock.now
            let dice = Int.random(in: 0..<100, using: &rng)
            switch dice {
            case 0..<55:  // a batch, sometimes after days (months roll and seal)
                clock.advance(dice < 8 ? UInt64.random(in: 1...12, using: &rng) * 86_400_000_000_000 : UInt64.random(in: 1...1_000_000_000, using: &rng))
                let batch = transfers(Int.random(in: 1...12, using: &rng))
                do {
                    let results = try ledger.submitAndWait(EventBatch(batch.map { transfer($0.id, from: UInt128($0.from), to: UInt128($0.to), $0.amount) }))
                    guard results.allSatisfy({ $0 == .ok }) else { return "a batch of new transfers got \(results)" }
                    for entry in batch {
                        model.apply(from: entry.from, to: entry.to, amount: entry.amount)
                        model.acked.append(entry.id)
                    }
                    steps.append("batch \(batch.count)")
                } catch let error as LedgerError where error.code == .stopped {
                    return "the engine stopped with no fault injected: \(error)"
                }
            case 55..<62:
                _ = try ledger.snapshot()
                steps.append("snapshot")
            case 62..<67:
                let current = UTCMonth(containing: clock.read())
                _ = try ledger.archive(before: UTCMonth(number: current.number - 1), codec: Bool.random(using: &rng) ? .zstd : .lz4, level: 1)
                steps.append("archive")
            case 67..<75:
                try ledger.close()
                steps.append("restart")
                if let problem = try recover("a clean restart", crashed: false) { return problem + " (steps: \(steps.suffix(6)))" }
            case 75..<85:
                // A crash: unsynced writes dropped, or torn and partly kept.
                disk.crash(mode: Bool.random(using: &rng) ? .dropUnsynced : .tornUnsynced)
                steps.append("crash")
                if let problem = try recover("a crash") { return problem + " (steps: \(steps.suffix(6)))" }
            case 85..<93:
                // A failed fsync (EIO) or a full disk on the next batch: the
                // engine must stop, acknowledging nothing it could not sync.
                let eio = Bool.random(using: &rng)
                if eio { disk.failSync = { _ in true } } else { disk.noSpace = { _ in true } }
                let batch = transfers(Int.random(in: 1...8, using: &rng))
                do {
                    _ = try ledger.submitAndWait(EventBatch(batch.map { transfer($0.id, from: UInt128($0.from), to: UInt128($0.to), $0.amount) }))
                    return "a batch was acknowledged while every \(eio ? "fsync failed" : "write hit ENOSPC")"
                } catch is LedgerError {
                    model.uncertain += batch
                }
                disk.failSync = nil
                disk.noSpace = nil
                disk.crash(mode: .dropUnsynced)
                steps.append(eio ? "EIO" : "ENOSPC")
                if let problem = try recover(eio ? "EIO" : "ENOSPC") { return problem + " (steps: \(steps.suffix(6)))" }
            default:
                // A bit flip on read of a WAL file: refused by name, or (when it
                // lies in bytes recovery does not read) recovered intact.
                try ledger.close()
                let wal = disk.names().filter { $0.hasSuffix(".log") }
                let path = wal[Int.random(in: 0..<wal.count, using: &rng)]
                disk.readFlips[path] = [Int.random(in: 0..<disk.bytes(path).count, using: &rng)]
                do {
                    let flipped = try Ledger.open(at: root, storage: disk, options: options(clock))
                    let missing = try flipped.missingEntries(model.acked)
                    try flipped.close()
                    if !missing.isEmpty { return "a bit flip on read of \(path) lost \(missing.count) entries silently" }
                } catch let error as LedgerError {
                    guard error.path != nil, error.message.contains("ledgerctl") else { return "a bit flip was refused without a name: \(error)" }
                }
                disk.readFlips = [:]
                steps.append("flip")
                if let problem = try recover("a bit flip on read", crashed: false) { return problem + " (steps: \(steps.suffix(6)))" }
            }
        }
        try ledger.close()
        let report = try Verifier.verify(at: root, storage: disk)
        guard report.passed else { return "verify after the run: \(report.problems.filter { $0.severity == .error })" }
        return nil
    }

    /// Steps per seed (`LEDGER_SIM_STEPS`, default 30).
    static let stepsPerSeed = Int(ProcessInfo.processInfo.environment["LEDGER_SIM_STEPS"] ?? "") ?? 30

    /// Seeds for this run: `LEDGER_SIM_SEED` replays one; `LEDGER_SIM_SEEDS`
    /// sets how many (default 200), split over `chunks` parallel tests.
    static let chunks = 8
    static func seeds(chunk: Int) -> [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let text = environment["LEDGER_SIM_SEED"], let seed = UInt64(text) { return chunk == 0 ? [seed] : [] }
        let count = Int(environment["LEDGER_SIM_SEEDS"] ?? "") ?? 200
        return stride(from: chunk, to: count, by: chunks).map { UInt64($0) &* 0x9E37_79B9 &+ 17 }
    }

    @Test(arguments: 0..<chunks)
    func acknowledgedEntriesAndBalancesSurviveEverySimulatedFault(chunk: Int) throws {
        var failures: [String] = []
        for seed in Self.seeds(chunk: chunk) {
            do {
                if let problem = try Self.run(seed: seed) { failures.append("seed \(seed): \(problem)") }
            } catch {
                failures.append("seed \(seed): \(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) seeds failed (replay one with LEDGER_SIM_SEED=<seed>):\n\(failures.prefix(10).joined(separator: "\n"))")
    }
}
