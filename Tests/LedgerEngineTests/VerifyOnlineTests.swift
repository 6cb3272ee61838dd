import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Online verify on an open engine: clean while it commits, a damaged WAL
/// record named by file and offset, cancellable.
@Suite struct VerifyOnlineTests {
    static func ledger() throws -> (String, Ledger) {
        let dir = temporaryDirectory()
        try Ledger.initialize(at: dir, options: LedgerTests.options())
        let ledger = try Ledger.open(at: dir, options: LedgerTests.options())
        #expect(try ledger.submitAndWait(EventBatch([usd(1), usd(2)])) == [.ok, .ok])
        for i in 0..<40 { _ = try ledger.submitAndWait(EventBatch((0..<5).map { transfer(UInt128(1_000 + i * 5 + $0), from: 1, to: 2, 3) })) }
        return (dir, ledger)
    }

    @Test func aCleanLedgerPassesUpToItsDurableLSNWhileItCommits() throws {
        let (dir, ledger) = try Self.ledger()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        defer { try? ledger.close() }
        _ = try ledger.snapshot()  // the replay starts from it
        for i in 0..<10 { _ = try ledger.submitAndWait(EventBatch([transfer(UInt128(5_000 + i), from: 1, to: 2, 1)])) }
        let lastLSN = ledger.lastLSN.current
        let committing = Thread { for i in 0..<50 { _ = try? ledger.submitAndWait(EventBatch([transfer(UInt128(6_000 + i), from: 1, to: 2, 1)])) } }
        committing.start()
        let report = try ledger.verifyOnline()
        #expect(report.passed, "\(report.problems)")
        #expect(report.chainLSN >= lastLSN && report.walRecords > 0)
        #expect(throws: Verifier.Cancelled.self) { _ = try ledger.verifyOnline(isCancelled: { true }) }
    }

    @Test func aLiveStateThatDiffersFromTheLogIsAnError() throws {
        let (dir, ledger) = try Self.ledger()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        defer { try? ledger.close() }
        var point = try ledger.readSegments { segments in
            Verifier.LivePoint(lsn: ledger.wal.nextLSN - 1, machine: ledger.machine, chainHead: ledger.chain.head, sealed: segments.sealedMonths)
        }
        var results: [ResultCode] = []
        // The "engine" holds one more entry than its log: exactly what this check is for.
        EventBatch([transfer(9_999, from: 1, to: 2, 7)]).bytes.withUnsafeBytes {
            point.machine.apply($0, eventCount: 1, timestamp: .max - 1, results: &results)
        }
        let report = try Verifier.verifyLive(
            storage: POSIXStorage(), layout: DataDirectoryLayout(root: dir), meta: ledger.meta, at: point, progress: { _ in }, isCancelled: { false })
        #expect(report.problems.contains { $0.kind == "live state differs from the log" }, "\(report.problems)")
        point.chainHead = [UInt8](repeating: 0, count: 32)
        let chain = try Verifier.verifyLive(
            storage: POSIXStorage(), layout: DataDirectoryLayout(root: dir), meta: ledger.meta, at: point, progress: { _ in }, isCancelled: { false })
        #expect(chain.problems.contains { $0.kind == "chain differs from the engine's" })
    }

    @Test func aDamagedWALRecordIsNamedByFileAndOffset() throws {
        let (dir, ledger) = try Self.ledger()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        defer { try? ledger.close() }
        let wal = try WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: dir)).walFiles()[0].path
        let handle = try #require(FileHandle(forUpdatingAtPath: wal))
        try handle.seek(toOffset: 4_096 + 200)  // inside the first records
        let byte = try #require(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: 4_096 + 200)
        try handle.write(contentsOf: [byte ^ 0x01])
        try handle.close()
        let report = try ledger.verifyOnline()
        #expect(!report.passed)
        #expect(report.problems.contains { $0.severity == .error && $0.file == wal && $0.offset != nil }, "\(report.problems)")
    }
}
