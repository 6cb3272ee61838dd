// `LedgerBench history-queries --dir D [--runs R]`: history pages of 100 on
// the sealed, uncompressed months of an existing directory (one that
// `history` built, with its months restored from their archives), with
// the page cache dropped first (issue 13, target 6: p99 ≤ 2 ms). Needs
// root to drop the page cache; says so and measures warm otherwise.
//
// Per run: open, build the months' account-ordered copies if missing, one
// query per sealed month (each month's first query in a
// process checks its SHA-256 root, which reads the whole month; not what is
// measured), drop the page cache, then 1,000 pages at random (account,
// moment) pairs of the sealed months, then the same 1,000 again (warm).
import BenchmarkSupport
import Foundation
import LedgerEngine

func runHistoryQueries(_ config: Config) throws {
    let accounts = 10_000
    for run in 0..<config.runs {
        let ledger = try Ledger.open(at: config.directory)
        defer { try? ledger.close() }
        let sealed = try ledger.months().filter { $0.state == .sealed }.map(\.month)
        guard !sealed.isEmpty else {
            print("no sealed month is a segment: restore the archived months first (`ledgerctl restore --month`)")
            return
        }
        // The account-ordered copies (Specs/account-copy-format.md), as a
        // server builds them after each seal; a no-op once built.
        let t0 = now()
        let built = try ledger.buildAccountCopies()
        if !built.isEmpty {
            print(
                String(
                    format: "account copies: %d months built in %.1f s, %.0f MB, %d refs", built.count, Double(now() - t0) / 1e9,
                    Double(built.reduce(0) { $0 + $1.fileBytes }) / 1e6, built.reduce(0) { $0 + $1.refCount }))
        }
        for month in sealed { _ = try ledger.history(account: 1, fromNs: month.startNs, limit: 1) }
        let cold = dropPageCache()
        var rng = FastRandom()
        var pairs: [(account: UInt128, atNs: UInt64)] = []
        for _ in 0..<1_000 {
            let month = sealed[Int.random(in: 0..<sealed.count, using: &rng)]
            let at = month.startNs + UInt64.random(in: 0..<(month.next.startNs - month.startNs), using: &rng)
            pairs.append((UInt128(Int.random(in: 1...accounts, using: &rng)), at))
        }
        for pass in [cold ? "page cache dropped first" : "page cache warm (not root: not dropped)", "again, warm"] {
            var samplesNs: [UInt64] = []
            var items = 0
            for (account, at) in pairs {
                let t0 = now()
                items += try ledger.history(account: account, fromNs: at, limit: 100).items.count
                samplesNs.append(now() - t0)
            }
            print(
                "run \(run + 1), \(sealed.count) sealed months, \(pass): history page of 100: \(percentiles(samplesNs)), "
                    + String(format: "%.1f items per page", Double(items) / Double(pairs.count)))
        }
    }
}

/// Drops the page cache (after a sync); false when this process may not.
func dropPageCache() -> Bool {
    guard FileManager.default.isWritableFile(atPath: "/proc/sys/vm/drop_caches") else { return false }
    sync()
    return (try? "3\n".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)) != nil
}
