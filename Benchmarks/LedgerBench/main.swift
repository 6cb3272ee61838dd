// In-process benchmark of the engine with the workload of ../shared/WORKLOAD.md:
// two-posting entries between accounts funded with 10^12, overdraft checks on,
// every entry durable (fdatasync returned) before it counts.
//
//   LedgerBench batch      [--seconds S] [--runs N] [--accounts A]   batches of 8,189, 4 pipelined submitters
//   LedgerBench concurrent [--seconds S] [--runs N] [--clients C]    C threads, batch size 1
//   LedgerBench tasks      [--seconds S] [--runs N] [--clients C]    C Swift tasks, batch size 1
//   LedgerBench all                                                   both, plus the 10-hot-accounts variant
//   LedgerBench alloc --entries N                                     fixed work, for `valgrind` allocation counts
//   LedgerBench recovery --entries N [--runs R]                       time a full recovery and a full verify of N entries
//   LedgerBench history --entries N [--months M] [--reuse 1]           issue 3: queries hot/archived, archival, verify, recovery (History.swift)
//   LedgerBench history-queries --dir D [--runs R]                     history pages on D's sealed months, page cache dropped (HistoryQueries.swift)
//
// Build with `swift build -c release` (never -Ounchecked). Prints one line per
// run and the median.
import BenchmarkSupport
import Foundation
import LedgerEngine

struct Config {
    var mode = "all"
    var seconds = 10.0
    var runs = 5
    var accounts = 10_000
    var clients = 64
    var batchSize = 8_189
    var entries = 100_000
    var directory = NSTemporaryDirectory() + "ledger-bench"
    /// Automatic snapshot interval in MiB of WAL (nil: the engine's default; 0: none).
    var snapshotIntervalMiB: Int?
    var months = 12
    var reuse = false
}

func parse() -> Config {
    var config = Config()
    var args = CommandLine.arguments.dropFirst()
    if let first = args.first, !first.hasPrefix("--") {
        config.mode = first
        args = args.dropFirst()
    }
    var iterator = args.makeIterator()
    while let flag = iterator.next() {
        if flag == "--help" || flag == "-h" { usage(exitCode: 0) }
        guard let value = iterator.next() else { usage("\(flag) needs a value") }
        switch flag {
        case "--seconds": config.seconds = number(Double(value), flag)
        case "--runs": config.runs = number(Int(value), flag)
        case "--accounts": config.accounts = number(Int(value), flag)
        case "--clients": config.clients = number(Int(value), flag)
        case "--batch-size": config.batchSize = number(Int(value), flag)
        case "--entries": config.entries = number(Int(value), flag)
        case "--dir": config.directory = value
        case "--snapshot-interval-mib": config.snapshotIntervalMiB = number(Int(value), flag)
        case "--months": config.months = number(Int(value), flag)
        case "--reuse": config.reuse = value == "1"
        default: usage("unknown flag \(flag)")
        }
    }
    return config
}

/// Bad arguments get one line and the usage (the header comment), never a trap.
func usage(_ problem: String? = nil, exitCode: Int32 = 2) -> Never {
    if let problem { FileHandle.standardError.write(Data("LedgerBench: \(problem)\n".utf8)) }
    FileHandle.standardError.write(Data("usage: LedgerBench MODE [--flag value]...; modes and flags: Benchmarks/LedgerBench/main.swift\n".utf8))
    exit(exitCode)
}

func number<T>(_ value: T?, _ flag: String) -> T {
    guard let value else { usage("\(flag) needs a number") }
    return value
}

let fundingAccount: UInt128 = 1 << 100

/// A fresh ledger with `accounts` wallets (overdraft-checked) funded with 10^12 each.
func freshLedger(_ config: Config, accounts: Int) throws -> Ledger {
    try? FileManager.default.removeItem(atPath: config.directory)
    try Ledger.initialize(at: config.directory)
    var options = Ledger.Options()
    options.snapshotIntervalWALBytes = config.snapshotIntervalMiB.map { $0 << 20 }
    let ledger = try Ledger.open(at: config.directory, options: options)
    var batch = EventBatch()
    batch.append(NewAccount(id: fundingAccount, ledger: 840, code: 1))
    for id in 1...accounts {
        batch.append(NewAccount(id: UInt128(id), ledger: 840, code: 2, flags: .debitsMustNotExceedCredits))
        if batch.eventCount == Limits.batchEventsMax {
            _ = try ledger.submitAndWait(batch)
            batch = EventBatch()
        }
    }
    if batch.eventCount > 0 { _ = try ledger.submitAndWait(batch) }
    batch = EventBatch()
    for id in 1...accounts {
        batch.append(NewEntry(id: UInt128(id) << 64, postings: [.debit(fundingAccount, 1_000_000_000_000), .credit(UInt128(id), 1_000_000_000_000)]))
        if batch.eventCount == Limits.batchEventsMax {
            _ = try ledger.submitAndWait(batch)
            batch = EventBatch()
        }
    }
    if batch.eventCount > 0 { _ = try ledger.submitAndWait(batch) }
    return ledger
}

struct Generator {
    var rng = FastRandom()
    var nextID: UInt128 = 1 << 120
    let accounts: Int
    mutating func append(to batch: inout EventBatch) {
        let from = Int.random(in: 1...accounts, using: &rng)
        var to = Int.random(in: 1...accounts, using: &rng)
        if to == from { to = from % accounts + 1 }
        let amount = UInt128(Int.random(in: 1...1000, using: &rng))
        nextID += 1
        batch.append(NewEntry(id: nextID, postings: [.debit(UInt128(from), amount), .credit(UInt128(to), amount)]))
    }
}

/// Resident bytes now (/proc/self/statm, in pages).
func currentRSSBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = statm.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

func peakRSSBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        // "VmHWM:\t  612 kB", or "VmHWM:\t12345678 kB" (no space once the figure is wide)
        return (Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "0") ?? 0) * 1024
    }
    return 0
}

/// WAL bytes per event over the records still in the WAL (compaction may
/// have deleted older ones, so both sides count the same records).
func walBytesPerEvent(_ directory: String) -> Double {
    var bytes = 0
    var events = 0
    _ = try? WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: directory)).scan(mode: .verify) { record in
        bytes += WALFormat.recordBytes(payloadBytes: record.header.payloadBytes)
        guard record.header.type == WALFormat.recordTypeGroup else { return }
        try WALGroupPayload.forEachBatch(record.payload, validateEvents: false) { events += $0.eventCount }
    }
    return Double(bytes) / Double(max(events, 1))
}

final class Counter: @unchecked Sendable {
    let lock = ConditionLock()
    var entries = 0
    var latenciesNs: [UInt64] = []
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Runs `body(i)` for i in 0..<count, each on its own engine thread, and
/// waits for all of them.
func onThreads(_ count: Int, _ body: @escaping (Int) -> Void) {
    let done = DispatchGroup()
    for i in 0..<count {
        done.enter()
        LedgerEngine.Thread {
            body(i)
            done.leave()
        }.start()
    }
    done.wait()
}

typealias RunResult = (rate: Double, p50Ms: Double, p99Ms: Double, bytesPerEntry: Double)

/// Closes the ledger and summarizes a run: rate, latency percentiles, WAL bytes per entry.
func finish(_ ledger: Ledger, _ counter: Counter, start: UInt64, directory: String) throws -> RunResult {
    let elapsed = Double(now() - start) / 1e9
    try ledger.close()
    let latencies = counter.latenciesNs.sorted()
    return (
        Double(counter.entries) / elapsed, Double(latencies[latencies.count / 2]) / 1e6,
        Double(latencies[min(latencies.count - 1, latencies.count * 99 / 100)]) / 1e6,
        walBytesPerEvent(directory)
    )
}

/// Batches of `batchSize`, pre-generated, submitted by 4 threads so the
/// writer always has the next batch waiting (as a pipelining client would).
func runBatches(_ config: Config, accounts: Int) throws -> RunResult {
    let ledger = try freshLedger(config, accounts: accounts)
    var generator = Generator(accounts: accounts)
    let batchesNeeded = max(8, Int(config.seconds * 1_500_000) / config.batchSize)  // enough for ~1.5M/s
    var batches: [EventBatch] = []
    for _ in 0..<batchesNeeded {
        var batch = EventBatch()
        batch.bytes.reserveCapacity(config.batchSize * 144)
        for _ in 0..<config.batchSize { generator.append(to: &batch) }
        batches.append(batch)
    }
    let counter = Counter()
    let submitters = 4
    let start = now()
    let deadline = start + UInt64(config.seconds * 1e9)
    onThreads(submitters) { s in
        var index = s
        while index < batches.count && now() < deadline {
            let t0 = now()
            let results = try! ledger.submitAndWait(batches[index])
            let t1 = now()
            precondition(results.allSatisfy { $0 == .ok }, "rejected: \(Set(results))")
            counter.lock.withLock {
                counter.entries += results.count
                counter.latenciesNs.append(t1 - t0)
            }
            index += submitters
        }
    }
    return try finish(ledger, counter, start: start, directory: config.directory)
}

/// `clients` threads, each submitting one entry at a time and waiting.
func runConcurrent(_ config: Config, accounts: Int) throws -> RunResult {
    let ledger = try freshLedger(config, accounts: accounts)
    let counter = Counter()
    let start = now()
    let deadline = start + UInt64(config.seconds * 1e9)
    onThreads(config.clients) { c in
        var generator = Generator(nextID: UInt128(c + 1) << 100, accounts: accounts)
        var latencies: [UInt64] = []
        var count = 0
        while now() < deadline {
            var batch = EventBatch()
            generator.append(to: &batch)
            let t0 = now()
            let results = try! ledger.submitAndWait(batch)
            latencies.append(now() - t0)
            precondition(results == [.ok], "rejected: \(results)")
            count += 1
        }
        counter.lock.withLock {
            counter.entries += count
            counter.latenciesNs.append(contentsOf: latencies)
        }
    }
    return try finish(ledger, counter, start: start, directory: config.directory)
}

/// `clients` Swift tasks (multiplexed on the cooperative pool, as a server's
/// event loops would multiplex connections), each awaiting one entry at a time.
func runConcurrentTasks(_ config: Config, accounts: Int) throws -> RunResult {
    let ledger = try freshLedger(config, accounts: accounts)
    let counter = Counter()
    let start = now()
    let deadline = start + UInt64(config.seconds * 1e9)
    let done = DispatchSemaphore(value: 0)
    let clients = config.clients
    Task {
        await withTaskGroup(of: (Int, [UInt64]).self) { group in
            for c in 0..<clients {
                group.addTask {
                    var generator = Generator(nextID: UInt128(c + 1) << 100, accounts: accounts)
                    var latencies: [UInt64] = []
                    var count = 0
                    while now() < deadline {
                        var batch = EventBatch()
                        generator.append(to: &batch)
                        let t0 = now()
                        let results = try! await ledger.submit(batch)
                        latencies.append(now() - t0)
                        precondition(results == [.ok], "rejected: \(results)")
                        count += 1
                    }
                    return (count, latencies)
                }
            }
            for await (count, latencies) in group {
                counter.entries += count
                counter.latenciesNs.append(contentsOf: latencies)
            }
        }
        done.signal()
    }
    done.wait()
    return try finish(ledger, counter, start: start, directory: config.directory)
}

func report(_ name: String, _ config: Config, _ run: () throws -> RunResult) throws {
    var rates: [Double] = []
    for index in 0..<config.runs {
        let r = try run()
        rates.append(r.rate)
        print(
            String(
                format: "%@ run %d: %.0f entries/s, latency p50 %.2f ms p99 %.2f ms, %.1f WAL bytes/entry", name, index + 1, r.rate, r.p50Ms, r.p99Ms,
                r.bytesPerEntry))
    }
    let median = rates.sorted()[rates.count / 2]
    print(String(format: "%@ median of %d runs: %.0f entries/s (peak RSS so far %.0f MiB)", name, config.runs, median, Double(peakRSSBytes()) / 1_048_576))
}

let config = parse()
switch config.mode {
case "batch":
    try report("batch \(config.batchSize), \(config.accounts) accounts", config) { try runBatches(config, accounts: config.accounts) }
case "concurrent":
    var c = config
    c.batchSize = 1
    try report("\(config.clients) clients, batch 1, \(config.accounts) accounts", c) { try runConcurrent(c, accounts: config.accounts) }
case "tasks":
    try report("\(config.clients) client tasks, batch 1, \(config.accounts) accounts", config) { try runConcurrentTasks(config, accounts: config.accounts) }
case "all":
    try report("batch \(config.batchSize), \(config.accounts) accounts", config) { try runBatches(config, accounts: config.accounts) }
    try report("batch \(config.batchSize), 10 hot accounts", config) { try runBatches(config, accounts: 10) }
    try report("\(config.clients) client threads, batch 1, \(config.accounts) accounts", config) { try runConcurrent(config, accounts: config.accounts) }
    try report("\(config.clients) client tasks, batch 1, \(config.accounts) accounts", config) { try runConcurrentTasks(config, accounts: config.accounts) }
case "alloc":
    // Fixed work for allocation counting: run under valgrind with two values
    // of --entries; (allocs(2N) - allocs(N)) / N is the allocations per entry.
    // One encoded batch is reused with its ids rewritten in place, so the
    // count is the engine's, not the benchmark's batch building.
    let ledger = try freshLedger(config, accounts: 1_000)
    var generator = Generator(accounts: 1_000)
    var batch = EventBatch()
    for _ in 0..<config.batchSize { generator.append(to: &batch) }
    let entryBytes = EventFormat.entryBytes(postingCount: 2, metadataBytes: 0)
    var remaining = config.entries
    var round: UInt64 = 0
    while remaining > 0 {
        round += 1
        batch.bytes.withUnsafeMutableBytes { p in
            for event in 0..<batch.eventCount {
                p.storeBytes(of: (round << 32 | UInt64(event)).littleEndian, toByteOffset: event * entryBytes + 24, as: UInt64.self)
            }
        }
        let results = try ledger.submitAndWait(batch)
        precondition(results.allSatisfy { $0 == .ok }, "rejected: \(Set(results))")
        remaining -= batch.eventCount
    }
    try ledger.close()
    print("alloc run: \(config.entries - remaining) entries in batches of \(config.batchSize)")
case "recovery":
    // Builds a log of --entries entries (batches of 8,189), closes it, then
    // times a full recovery (open) and a full verify, --runs times each.
    let ledger = try freshLedger(config, accounts: config.accounts)
    var generator = Generator(accounts: config.accounts)
    var remaining = config.entries
    while remaining > 0 {
        var batch = EventBatch()
        for _ in 0..<min(remaining, config.batchSize) { generator.append(to: &batch) }
        _ = try ledger.submitAndWait(batch)
        remaining -= batch.eventCount
    }
    try ledger.close()
    var walBytes = 0
    var segmentBytes = 0
    for name in try POSIXStorage().listDirectory(config.directory) where name.hasSuffix(".log") {
        walBytes += (try FileManager.default.attributesOfItem(atPath: config.directory + "/" + name)[.size] as? Int) ?? 0
    }
    for name in try POSIXStorage().listDirectory(config.directory + "/segments") {
        segmentBytes += (try FileManager.default.attributesOfItem(atPath: config.directory + "/segments/" + name)[.size] as? Int) ?? 0
    }
    var openSeconds: [Double] = []
    var verifySeconds: [Double] = []
    for _ in 0..<config.runs {
        var t0 = now()
        try Ledger.open(at: config.directory).close()
        openSeconds.append(Double(now() - t0) / 1e9)
        t0 = now()
        let report = try Verifier.verify(at: config.directory)
        verifySeconds.append(Double(now() - t0) / 1e9)
        precondition(report.passed, "verify failed: \(report.problems)")
    }
    let entries = Double(config.entries + 2 * config.accounts)
    let openMedian = openSeconds.sorted()[openSeconds.count / 2]
    let verifyMedian = verifySeconds.sorted()[verifySeconds.count / 2]
    print(
        String(
            format: "recovery of %.0f events (WAL files %.0f MiB preallocated, segments %.0f MiB): median %.2f s (%.0f events/s); runs %@", entries,
            Double(walBytes) / 1_048_576, Double(segmentBytes) / 1_048_576, openMedian, entries / openMedian,
            openSeconds.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
    print(
        String(
            format: "verify: median %.2f s (%.0f events/s, %.0f MB/s of segment data); runs %@", verifyMedian, entries / verifyMedian,
            Double(segmentBytes) / 1e6 / verifyMedian, verifySeconds.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
case "open-rss":
    // Opens an existing directory (--dir) in this fresh process and reports
    // the time and memory it takes: the resident-window bound, measured.
    let t0 = now()
    let ledger = try Ledger.open(at: config.directory)
    let openSeconds = Double(now() - t0) / 1e9
    let (entries, accounts) = try ledger.read { ($0.entryCount, $0.accountCount) }
    print(
        String(
            format: "open: %.2f s; %d accounts, %d entry records resident; peak RSS %.0f MiB", openSeconds, accounts, entries,
            Double(peakRSSBytes()) / 1_048_576))
    let recovery = ledger.recovery
    print(
        String(
            format: "  snapshot load %.2f s, replay %.2f s (%d records); beside them, the open month indexed in %.2f s (%d records from its saved index)",
            Double(recovery.snapshotLoadNs) / 1e9, Double(recovery.replayNs) / 1e9, recovery.recordsReplayed, Double(recovery.openMonthIndexedNs) / 1e9,
            recovery.openMonthRecordsFromSavedIndex))
    // What the largest structures hold, against the RSS now (memory bound).
    var counted = 0
    for (name, bytes) in try ledger.memoryReport() {
        counted += bytes
        print(String(format: "  %@: %.1f MiB", name, Double(bytes) / 1_048_576))
    }
    print(String(format: "  counted %.0f MiB of %.0f MiB resident now", Double(counted) / 1_048_576, Double(currentRSSBytes()) / 1_048_576))
    let closeStart = now()
    try ledger.close()
    print(String(format: "  close %.2f s (saves the open month's index)", Double(now() - closeStart) / 1e9))
case "verify":
    // Times `verify` of an existing directory (--dir), --runs times.
    var seconds: [Double] = []
    var report: VerifyReport?
    for _ in 0..<config.runs {
        let t0 = now()
        report = try Verifier.verify(at: config.directory)
        seconds.append(Double(now() - t0) / 1e9)
    }
    let median = seconds.sorted()[seconds.count / 2]
    print(
        String(
            format: "verify: median %.2f s over %d runs, %d segment records (%.0f records/s), passed %@", median, config.runs, report!.segmentRecords,
            Double(report!.segmentRecords) / median, report!.passed ? "yes" : "no"))
case "archive-phases":
    try runArchivePhases(config)
case "history-queries":
    try runHistoryQueries(config)
case "history":
    try runHistoryBenchmarks(config, months: config.months, reuse: config.reuse)
default:
    print("modes: batch, concurrent, tasks, all, alloc, recovery, history, history-queries, open-rss, verify, archive-phases")
}
