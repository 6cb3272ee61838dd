import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The drill's method as a test: every file of a populated multi-month
/// directory (WAL files, open and sealed segments, month indexes, an
/// archive, a snapshot, the balance index, ledger.meta) × every kind of
/// damage. Each case must end in one of two ways:
/// - refused: open (or the first query) throws, naming a file and the
///   `ledgerctl` command that investigates it;
/// - recovered: every acknowledged entry is found and every balance and
///   history is exactly what it was.
/// Never a silent wrong answer.
@Suite struct CorruptionMatrixTests {
    enum Damage: String, CaseIterable, Sendable {
        case flipHeader, flipMiddle, flipLast, truncateHalf, delete, appendGarbage
    }

    struct Expected: Sendable {
        var accounts: [Account?]
        var histories: [[HistoryItem]]
        var acked: [UInt128]
    }

    /// Four months of history, a month archived, a snapshot and more
    /// batches after it, closed cleanly; built once.
    static let base: (disk: SimulatedDisk, expected: Expected, clockNs: UInt64) = {
        let disk = SimulatedDisk(seed: 71)
        let (ledger, clock, workload) = try! SegmentQueryTests.fourMonths(seed: 71, disk: disk)
        _ = try! ledger.archive(before: UTCMonth(year: 2026, month: 10), codec: .zstd, level: 3)
        _ = try! ledger.snapshot()
        var more = workload
        try! more.run(ledger, clock: clock, batches: 20, stepNsMax: 3_600_000_000_000)
        let accounts = try! (1...UInt128(more.accountCount)).map { try ledger.account(id: $0) }
        let histories = try! (1...UInt128(more.accountCount)).map { try ledger.history(account: $0, limit: 100_000).items }
        try! ledger.close()
        return (disk, Expected(accounts: accounts, histories: histories, acked: more.appliedEntryIDs), clock.read())
    }()

    /// Every file of the base directory (LOCK aside).
    static let files: [String] = base.disk.names().filter { !$0.hasSuffix("/LOCK") }

    static func damage(_ disk: SimulatedDisk, _ path: String, _ how: Damage) throws {
        let size = disk.bytes(path).count
        switch how {
        case .flipHeader: if size > 20 { disk.corrupt(path, at: 20) }
        case .flipMiddle: if size > 0 { disk.corrupt(path, at: size / 2) }
        case .flipLast: if size > 0 { disk.corrupt(path, at: size - 1) }
        case .truncateHalf:
            let file = try disk.openFile(path, create: false)
            try file.truncate(toSize: size / 2)
            try file.sync()
        case .delete: try disk.removeFile(path)
        case .appendGarbage:
            let file = try disk.openFile(path, create: false)
            try file.write([UInt8](repeating: 0xA5, count: 64), at: size)
            try file.sync()
        }
    }

    static func isProperRefusal(_ error: LedgerError) -> Bool {
        error.path != nil && error.message.contains("ledgerctl")
    }

    /// Opens the damaged directory and asks everything; returns a
    /// description of a wrong answer or an improper refusal, nil when the
    /// case ended properly.
    static func check(_ disk: SimulatedDisk, _ context: String) -> String? {
        var options = SegmentQueryTests.options(TestClock(base.clockNs))
        options.snapshotIntervalWALBytes = 0
        let ledger: Ledger
        do {
            ledger = try Ledger.open(at: SegmentQueryTests.root, storage: disk, options: options)
        } catch let error as LedgerError {
            return isProperRefusal(error) ? nil : "\(context): open refused without naming a file and a ledgerctl command: \(error)"
        } catch {
            return "\(context): open failed with \(error)"
        }
        defer { try? ledger.close() }
        do {
            let accounts = try (1...UInt128(base.expected.accounts.count)).map { try ledger.account(id: $0) }
            guard accounts == base.expected.accounts else { return "\(context): balances differ after recovery" }
            let missing = try ledger.missingEntries(base.expected.acked)
            guard missing.isEmpty else { return "\(context): \(missing.count) acknowledged entries lost" }
            let histories = try (1...UInt128(base.expected.accounts.count)).map { try ledger.history(account: $0, limit: 100_000).items }
            guard histories == base.expected.histories else { return "\(context): history differs after recovery" }
        } catch let error as LedgerError {
            return isProperRefusal(error) ? nil : "\(context): a query refused without naming a file and a ledgerctl command: \(error)"
        } catch {
            return "\(context): a query failed with \(error)"
        }
        return nil
    }

    @Test(arguments: Damage.allCases)
    func everyFileKindUnderEveryDamageIsRefusedByNameOrRecoveredIntact(_ how: Damage) throws {
        var outcomes: [String] = []
        for path in Self.files {
            let disk = Self.base.disk.clone(seed: 72)
            try Self.damage(disk, path, how)
            if let problem = Self.check(disk, "\(how.rawValue) \(path)") { outcomes.append(problem) }
        }
        #expect(outcomes.isEmpty, "\(outcomes.joined(separator: "\n"))")
        #expect(Self.files.contains { $0.hasSuffix(".arc") } && Self.files.contains { $0.hasSuffix(".idx") } && Self.files.contains { $0.hasSuffix(".snap") })
    }

    /// Edits whose checksums are recomputed (only the SHA-256 chain, a month
    /// root or a cross-check can notice): each is refused, never served.
    @Test func editsWithRecomputedChecksumsAreRefused() throws {
        // The WAL, a sealed segment and the snapshot each have their own test
        // (FaultInjectionTests, SealedMonthRootTests, RecoveryReconciliationTests);
        // here the open month's segment: an amount changed, its record CRC
        // recomputed, after a clean close.
        let disk = Self.base.disk.clone(seed: 73)
        let layout = DataDirectoryLayout(root: SegmentQueryTests.root)
        let open = try #require(disk.names().filter { $0.hasSuffix(".seg") }.sorted().last)
        _ = try #require(try SealedMonthRootTests.editFirstEntryAmounts(disk, open))
        #expect(Self.check(disk, "recomputed edit of \(open)") == nil)
        let report = try Verifier.verify(at: layout.root, storage: disk)
        #expect(!report.passed, "verify passed an edited open month")
    }
}
