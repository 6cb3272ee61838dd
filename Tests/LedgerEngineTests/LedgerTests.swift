import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

@Suite struct LedgerTests {
    static func options(walFileBytes: Int = 256 * 1024) -> Ledger.Options {
        var options = Ledger.Options()
        options.walFileBytes = walFileBytes
        options.indexCheckpointGroups = 4
        return options
    }

    @Test func postedEntriesSurviveCloseAndReopen() throws {
        let dir = temporaryDirectory()
        try Ledger.initialize(at: dir, options: Self.options())
        let ledger = try Ledger.open(at: dir, options: Self.options())
        #expect(try ledger.submitAndWait(EventBatch([usd(1), usd(2, flags: .debitsMustNotExceedCredits)])) == [.ok, .ok])
        #expect(try ledger.submitAndWait(EventBatch([transfer(10, from: 1, to: 2, 500)])) == [.ok])
        try ledger.close()

        let reopened = try Ledger.open(at: dir, options: Self.options())
        #expect(reopened.recovery.cleanShutdown)
        #expect(try reopened.account(id: 2)?.creditsPosted == 500)
        // Idempotency holds across the restart.
        #expect(try reopened.submitAndWait(EventBatch([transfer(10, from: 1, to: 2, 500)])) == [.exists])
        #expect(try reopened.submitAndWait(EventBatch([transfer(10, from: 1, to: 2, 501)])) == [.existsWithDifferentFields])
        try reopened.close()
    }

    @Test func timestampsKeepIncreasingAcrossRestartsEvenIfTheClockGoesBack() throws {
        let dir = temporaryDirectory()
        var options = Self.options()
        options.clock = { 5_000_000_000 }
        try Ledger.initialize(at: dir, options: options)
        var ledger = try Ledger.open(at: dir, options: options)
        _ = try ledger.submitAndWait(EventBatch([usd(1), usd(2)]))
        let first = try ledger.account(id: 2)!.timestamp
        try ledger.close()
        options.clock = { 1 }  // the wall clock stepped backwards
        ledger = try Ledger.open(at: dir, options: options)
        _ = try ledger.submitAndWait(EventBatch([usd(3)]))
        #expect(try ledger.account(id: 3)!.timestamp > first)
        try ledger.close()
    }

    @Test func secondOpenOfTheSameDirectoryIsRefused() throws {
        let dir = temporaryDirectory()
        try Ledger.initialize(at: dir, options: Self.options())
        let ledger = try Ledger.open(at: dir, options: Self.options())
        #expect(throws: LedgerError.self) { _ = try Ledger.open(at: dir, options: Self.options()) }
        do {
            _ = try Ledger.open(at: dir, options: Self.options())
        } catch let error as LedgerError {
            #expect(error.code == .locked)
        }
        try ledger.close()
        try Ledger.open(at: dir, options: Self.options()).close()
    }

    @Test func manyGroupsRollAcrossWALFilesAndReplay() throws {
        let dir = temporaryDirectory()
        try Ledger.initialize(at: dir, options: Self.options(walFileBytes: 64 * 1024))
        let ledger = try Ledger.open(at: dir, options: Self.options(walFileBytes: 64 * 1024))
        _ = try ledger.submitAndWait(EventBatch([usd(1), usd(2)]))
        for i in 0..<400 {
            let batch = EventBatch((0..<5).map { transfer(UInt128(1_000 + i * 5 + $0), from: 1, to: 2, 3) })
            #expect(try ledger.submitAndWait(batch) == Array(repeating: .ok, count: 5))
        }
        try ledger.close()
        let files = try WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: dir)).walFiles()
        #expect(files.count > 3)
        let reopened = try Ledger.open(at: dir, options: Self.options())
        #expect(try reopened.account(id: 2)!.creditsPosted == 400 * 5 * 3)
        #expect(reopened.recovery.indexRebuildReason == nil)
        try reopened.close()
    }

    @Test(arguments: [false, true])
    func concurrentSubmittersShareGroupCommits(pipelined: Bool) async throws {
        let dir = temporaryDirectory()
        var options = Self.options()
        if pipelined { options.inlineGroupPayloadBytesMax = 0 }
        try Ledger.initialize(at: dir, options: options)
        let ledger = try Ledger.open(at: dir, options: options)
        _ = try await ledger.submit(EventBatch([usd(1), usd(2)]))
        try await withThrowingTaskGroup(of: [ResultCode].self) { group in
            for i in 0..<200 {
                group.addTask { try await ledger.submit(EventBatch([transfer(UInt128(100 + i), from: 1, to: 2, 1)])) }
            }
            for try await results in group { #expect(results == [.ok]) }
        }
        #expect(try ledger.account(id: 2)!.creditsPosted == 200)
        try ledger.close()
        // Fewer records than batches: batches shared fdatasyncs.
        var records = 0
        _ = try WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: dir)).scan(mode: .recover) { _ in records += 1 }
        #expect(records < 201)
    }
}

@Suite struct LedgerLimitTests {
    /// A batch whose WAL record could not fit one WAL file is refused with a
    /// clear error, never a trap, and the engine keeps working.
    @Test func batchLargerThanAWALFileIsRejectedNotACrash() throws {
        let dir = temporaryDirectory()
        var options = Ledger.Options()
        options.walFileBytes = 64 * 1024
        try Ledger.initialize(at: dir, options: options)
        let ledger = try Ledger.open(at: dir, options: options)
        _ = try ledger.submitAndWait(EventBatch([usd(1), usd(2)]))
        let big = EventBatch((0..<1_000).map { transfer(UInt128(10 + $0), from: 1, to: 2, 1) })
        #expect(big.bytes.count > 64 * 1024)
        do {
            _ = try ledger.submitAndWait(big)
            Issue.record("a batch larger than a WAL file was accepted")
        } catch let error as LedgerError {
            #expect(error.code == .batchTooLarge)
        }
        // Many small batches still fill groups up to the file's capacity.
        for round in 0..<20 {
            let batch = EventBatch((0..<100).map { transfer(UInt128(100_000 + round * 100 + $0), from: 1, to: 2, 1) })
            #expect(try ledger.submitAndWait(batch) == Array(repeating: .ok, count: 100))
        }
        try ledger.close()
    }
}
