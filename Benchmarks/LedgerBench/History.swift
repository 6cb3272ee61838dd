// `LedgerBench history --entries N [--months M] [--reuse 1]`: the issue-3
// benchmarks on one data set of N two-posting entries among 10,000 accounts,
// spread evenly over M months by a warped clock (the engine assigns the
// timestamps; only its clock is injected):
//   1. build it (batches of 8,189), then snapshot, then a 1M-entry (or N/10)
//      tail after the snapshot, close;
//   2. recovery time from that snapshot plus the tail;
//   3. history pages of 100 and balance-as-of on hot months (p50/p99);
//   4. archive every sealed month with zstd 3 (and report lz4 on one month):
//      ratio and input MB/s; bytes per entry hot and archived;
//   5. the same queries on archived months;
//   6. verify throughput.
import BenchmarkSupport
import Foundation
import LedgerEngine

final class WarpedClock: @unchecked Sendable {
    private let lock = ConditionLock()
    private var valueNs: UInt64
    init(_ startNs: UInt64) { valueNs = startNs }
    func read() -> UInt64 { lock.withLock { valueNs } }
    func set(_ ns: UInt64) { lock.withLock { valueNs = max(valueNs, ns) } }
}

func directoryBytes(_ path: String, suffix: String) -> Int {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    return names.filter { $0.hasSuffix(suffix) }.reduce(0) { total, name in
        total + ((try? FileManager.default.attributesOfItem(atPath: path + "/" + name)[.size] as? Int) ?? 0)
    }
}

func percentiles(_ samplesNs: [UInt64]) -> String {
    let s = samplesNs.sorted()
    func at(_ q: Double) -> Double { Double(s[min(s.count - 1, Int(Double(s.count) * q))]) / 1e6 }
    return String(format: "p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d queries)", at(0.5), at(0.99), Double(s.last!) / 1e6, s.count)
}

func runHistoryBenchmarks(_ config: Config, months: Int, reuse: Bool) throws {
    let accounts = 10_000
    let firstMonth = UTCMonth(year: 2025, month: 11)
    var lastMonth = firstMonth
    for _ in 1..<months { lastMonth = lastMonth.next }
    let spanNs = lastMonth.next.startNs - firstMonth.startNs - 1_000_000_000
    let clock = WarpedClock(firstMonth.startNs)
    var options = Ledger.Options()
    options.clock = { clock.read() }
    let tail = min(1_000_000, config.entries / 10)
    let body = config.entries - tail
    if !reuse {
        try? FileManager.default.removeItem(atPath: config.directory)
        try Ledger.initialize(at: config.directory)
        let ledger = try Ledger.open(at: config.directory, options: options)
        var batch = EventBatch()
        func append(_ event: @autoclosure () -> Void) throws {
            event()
            if batch.eventCount == 4_096 {
                _ = try ledger.submitAndWait(batch)
                batch = EventBatch()
            }
        }
        try append(batch.append(NewAccount(id: fundingAccount, ledger: 840, code: 1)))
        for id in 1...accounts { try append(batch.append(NewAccount(id: UInt128(id), ledger: 840, code: 2, flags: .debitsMustNotExceedCredits))) }
        for id in 1...accounts {
            try append(
                batch.append(NewEntry(id: UInt128(id) << 64, postings: [.debit(fundingAccount, 1_000_000_000_000), .credit(UInt128(id), 1_000_000_000_000)])))
        }
        _ = try ledger.submitAndWait(batch)
        var generator = Generator(accounts: accounts)
        var submitted = 0
        // Each submit's latency, and the slowest ones with the month they
        // fell in: a month turn seals the old month (and, with a one-month
        // resident window, the next group's lookups may wait for that).
        var latencies: [(ns: UInt64, month: UTCMonth)] = []
        let t0 = now()
        // Two submitters keep a batch waiting while the other is made durable.
        let lock = ConditionLock()
        func next(until limit: Int) -> EventBatch? {
            lock.withLock {
                guard submitted < limit else { return nil }
                var batch = EventBatch()
                let n = min(config.batchSize, limit - submitted)
                for _ in 0..<n { generator.append(to: &batch) }
                clock.set(firstMonth.startNs + UInt64(Double(spanNs) * Double(submitted) / Double(config.entries)))
                submitted += n
                return batch
            }
        }
        func submit(until limit: Int) {
            onThreads(2) { _ in
                while let batch = next(until: limit) {
                    let start = now()
                    let results = try! ledger.submitAndWait(batch)
                    let ns = now() - start
                    let month = UTCMonth(containing: clock.read())
                    lock.withLock { latencies.append((ns, month)) }
                    precondition(results.allSatisfy { $0 == .ok }, "rejected: \(Set(results))")
                }
            }
        }
        func reportLatencies() {
            let sorted = latencies.map(\.ns).sorted()
            func ms(_ q: Double) -> Double { Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]) / 1e6 }
            let slowest = latencies.sorted { $0.ns > $1.ns }.prefix(5).map { String(format: "%.0f ms (%@)", Double($0.ns) / 1e6, $0.month.description) }
            print(
                String(
                    format: "submit latency (batch %d, 2 submitters): p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms; slowest: %@", config.batchSize,
                    ms(0.5), ms(0.99), ms(0.999), ms(1.0), slowest.joined(separator: ", ")))
        }
        submit(until: body)
        _ = try ledger.snapshot()
        print(String(format: "built %d entries in %.1f s; snapshot taken; now the %d-entry tail", body, Double(now() - t0) / 1e9, tail))
        submit(until: config.entries)
        print(String(format: "built %d entries over %d months in %.1f s", config.entries, months, Double(now() - t0) / 1e9))
        reportLatencies()
        try ledger.close()
    }
    let segments = config.directory + "/segments"
    let segBytes = directoryBytes(segments, suffix: ".seg")
    let idxBytes = directoryBytes(segments, suffix: ".idx")
    let events = Double(config.entries)
    print(
        String(
            format: "on disk, hot: segments %.0f MiB (%.1f bytes/entry), month indexes %.0f MiB (%.1f bytes/entry), WAL files %.0f MiB, snapshots %.0f MiB",
            Double(segBytes) / 1_048_576, Double(segBytes) / events, Double(idxBytes) / 1_048_576, Double(idxBytes) / events,
            Double(directoryBytes(config.directory, suffix: ".log")) / 1_048_576,
            Double(directoryBytes(config.directory + "/snapshots", suffix: ".snap")) / 1_048_576))

    // Recovery from the snapshot plus the tail.
    var openSeconds: [Double] = []
    var ledger: Ledger!
    for run in 0..<config.runs {
        let t0 = now()
        ledger = try Ledger.open(at: config.directory, options: options)
        openSeconds.append(Double(now() - t0) / 1e9)
        if run < config.runs - 1 { try ledger.close() }
    }
    print(
        String(
            format: "recovery (snapshot at LSN %llu, %llu WAL records replayed after it): median %.2f s; runs %@; peak RSS %.0f MiB",
            ledger.recovery.snapshotLSN, ledger.recovery.recordsReplayed, openSeconds.sorted()[openSeconds.count / 2],
            openSeconds.map { String(format: "%.2f", $0) }.joined(separator: ", "), Double(peakRSSBytes()) / 1_048_576))

    // The first query of each sealed month in a process recomputes the month's
    // SHA-256 root before answering (data safety, issue 10); the second is a
    // plain query. Measured with the page cache dropped (when root may) and
    // right after recovery, so no month has been read yet.
    do {
        let cold = FileManager.default.isWritableFile(atPath: "/proc/sys/vm/drop_caches")
        if cold {
            sync()
            try? "3\n".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)
        }
        var month = firstMonth
        var firstMs: [Double] = []
        var secondMs: [Double] = []
        for _ in 0..<(months - 1) {
            var t0 = now()
            _ = try ledger.history(account: 1, fromNs: month.startNs, limit: 1)
            firstMs.append(Double(now() - t0) / 1e6)
            t0 = now()
            _ = try ledger.history(account: 2, fromNs: month.startNs, limit: 1)
            secondMs.append(Double(now() - t0) / 1e6)
            month = month.next
        }
        let monthBytes = Double(segBytes) / Double(months)
        print(
            String(
                format:
                    "first query of a sealed month (%@page cache, root of ~%.0f MiB checked): median %.0f ms, max %.0f ms (%.0f MB/s); the second query of the same month: median %.2f ms",
                cold ? "cold " : "warm ", monthBytes / 1_048_576, firstMs.sorted()[firstMs.count / 2], firstMs.max() ?? 0,
                monthBytes / 1e6 / (firstMs.sorted()[firstMs.count / 2] / 1e3), secondMs.sorted()[secondMs.count / 2]))
        if ProcessInfo.processInfo.environment["LEDGERBENCH_FIRST_QUERIES_ONLY"] != nil { return }
    }

    func queries(_ label: String, months range: ClosedRange<Int>) throws {
        var rng = FastRandom()
        var historyNs: [UInt64] = []
        var historyNoReadAheadNs: [UInt64] = []
        var balanceNs: [UInt64] = []
        var items = 0
        for query in 0..<2_000 {
            // Interleaved A/B: odd queries without the read-ahead hint.
            try ledger.setHistoryReadAhead(query % 2 == 0)
            let account = UInt128(Int.random(in: 1...accounts, using: &rng))
            var month = firstMonth
            for _ in 0..<Int.random(in: range, using: &rng) { month = month.next }
            let at = month.startNs + UInt64.random(in: 0..<(month.next.startNs - month.startNs), using: &rng)
            var t0 = now()
            let page = try ledger.history(account: account, fromNs: at, limit: 100)
            if query % 2 == 0 { historyNs.append(now() - t0) } else { historyNoReadAheadNs.append(now() - t0) }
            items += page.items.count
            t0 = now()
            _ = try ledger.balance(account: account, asOfNs: at)
            balanceNs.append(now() - t0)
        }
        try ledger.setHistoryReadAhead(true)
        print("\(label): history page of 100: \(percentiles(historyNs)), \(String(format: "%.1f", Double(items) / 2_000)) items per page on average")
        print("\(label): history page of 100 without the read-ahead hint (interleaved): \(percentiles(historyNoReadAheadNs))")
        print("\(label): balance as of: \(percentiles(balanceNs))")
    }
    try queries("hot (months 0...\(months - 2) sealed, uncompressed)", months: 0...(months - 2))
    // The same with nothing cached (needs root; skipped otherwise).
    if FileManager.default.isWritableFile(atPath: "/proc/sys/vm/drop_caches") {
        sync()
        try? "3\n".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)
        try queries("hot, page cache dropped first", months: 0...(months - 2))
    }

    // Archive: zstd 3 on every sealed month (lz4 0 first on month 0, restored, for comparison).
    var t0 = now()
    let lz4 = try ledger.archive(before: firstMonth.next, codec: .lz4, level: 0)
    let lz4Seconds = Double(now() - t0) / 1e9
    _ = try ledger.restore(month: firstMonth)
    if let r = lz4.first {
        print(
            String(
                format: "archive lz4 0 (month %@): %.2fx, %.0f MB/s input", r.month.description, Double(r.segmentBytes) / Double(r.archiveBytes),
                Double(r.segmentBytes) / 1e6 / lz4Seconds))
    }
    t0 = now()
    let zstd = try ledger.archive(before: lastMonth, codec: .zstd, level: 3)
    let zstdSeconds = Double(now() - t0) / 1e9
    let inBytes = zstd.reduce(0) { $0 + $1.segmentBytes }
    let outBytes = zstd.reduce(0) { $0 + $1.archiveBytes }
    print(
        String(
            format:
                "archive zstd 3 (%d months): %.2fx (%.0f MiB -> %.0f MiB), %.0f MB/s input (check, compress and round trip on 2 threads, write, fsync, read back)",
            zstd.count, Double(inBytes) / Double(outBytes), Double(inBytes) / 1_048_576, Double(outBytes) / 1_048_576, Double(inBytes) / 1e6 / zstdSeconds))
    let archivedEntries = zstd.reduce(0) { $0 + $1.recordCount }
    print(
        String(
            format: "on disk, archived: %.1f bytes/entry in the archive, plus %.1f bytes/entry of month index",
            Double(outBytes) / Double(archivedEntries), Double(idxBytes) / events))
    try queries("archived (zstd 3, 32 KiB frames)", months: 0...(months - 2))
    try ledger.close()

    // verify: everything, from the snapshot-era WAL, segments, archives.
    t0 = now()
    let report = try Verifier.verify(at: config.directory)
    let verifySeconds = Double(now() - t0) / 1e9
    precondition(report.passed, "verify failed: \(report.problems.prefix(3))")
    let archiveBytes = directoryBytes(segments, suffix: ".arc") + directoryBytes(segments, suffix: ".seg")
    print(
        String(
            format: "verify: %.1f s, %.0f entries/s, %.0f MB/s of segment data as stored (%.0f MB/s decompressed); peak RSS %.0f MiB",
            verifySeconds, events / verifySeconds, Double(archiveBytes) / 1e6 / verifySeconds, Double(segBytes) / 1e6 / verifySeconds,
            Double(peakRSSBytes()) / 1_048_576))
}

/// `LedgerBench archive-phases --dir D` (after `history` built D): times
/// archival's phases per month, for the profile in RESULTS.md. Restores
/// archived months first; leaves every sealed month as a segment.
func runArchivePhases(_ config: Config) throws {
    let storage = POSIXStorage()
    let layout = DataDirectoryLayout(root: config.directory)
    let ledger = try Ledger.open(at: config.directory)
    for (month, form) in try SegmentFiles.months(storage: storage, layout: layout) where form != .segment { try ledger.restore(month: month) }
    try ledger.close()
    let meta = try DataDirectoryMeta.read(storage: storage, layout: layout)
    var totals = (bytes: 0, write: 0.0, check: 0.0, scan: 0.0)
    for (month, _) in try SegmentFiles.months(storage: storage, layout: layout).dropLast() {
        var t0 = now()
        let file = try storage.openFile(layout.segmentPath(month), create: false)
        _ = try SegmentArchiver.forEachSealedRecord(file: file, directoryID: meta.directoryID) { _, _ in
        } sealBytes: { _ in
        }
        file.close()
        totals.scan += Double(now() - t0) / 1e9
        t0 = now()
        let result = try SegmentArchiver.writeArchive(storage: storage, layout: layout, month: month, directoryID: meta.directoryID, codec: .zstd, level: 3)
        totals.write += Double(now() - t0) / 1e9
        t0 = now()
        try SegmentArchiver.checkArchiveFrames(storage: storage, layout: layout, month: month, directoryID: meta.directoryID)
        totals.check += Double(now() - t0) / 1e9
        totals.bytes += result.segmentBytes
        try storage.removeFile(layout.archivePath(month))
    }
    let mb = Double(totals.bytes) / 1e6
    print(
        String(
            format:
                "archive phases over %.0f MB: streaming check alone %.0f MB/s; write (check + compress zstd 3 and a round trip on %d threads + write + fsync) %.0f MB/s; read back and check frame CRCs %.0f MB/s",
            mb, mb / totals.scan, SegmentArchiver.compressionThreads, mb / totals.write, mb / totals.check))
}
