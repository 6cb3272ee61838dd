import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The account-ordered copy of a sealed month (Specs/account-copy-format.md):
/// built byte for byte as the vector says, serving the same history pages
/// as the segment, never serving a damaged record, named by verify, deleted
/// at archival and left out of nothing it must not be.
@Suite struct AccountCopyTests {
    static let layout = DataDirectoryLayout(root: SegmentQueryTests.root)
    static let november = UTCMonth(year: 2026, month: 11)

    /// The four-month directory of `SealVerifyTests.closedDirectory`, open
    /// again: its disk, its sealed months, the ledger and its clock.
    static func reopened(seed: UInt64) throws -> (SimulatedDisk, [UTCMonth], Ledger, TestClock) {
        let (disk, months, clock) = try SealVerifyTests.closedDirectory(seed: seed)
        let ledger = try Ledger.open(at: SegmentQueryTests.root, storage: disk, options: SegmentQueryTests.options(clock))
        return (disk, Array(months.dropLast()), ledger, clock)
    }

    /// segment-sealed.hex and segment-index.hex on a disk, and their seal.
    static func vectorMonth() throws -> (SimulatedDisk, SegmentSeal) {
        let disk = SimulatedDisk(seed: 3)
        try disk.makeDirectory("/v")
        try disk.openFile("/v/s.seg", create: true).write(try FormatVectorTests.vector("segment-sealed.hex"), at: 0)
        try disk.openFile("/v/s.idx", create: true).write(try FormatVectorTests.vector("segment-index.hex"), at: 0)
        let seal = try #require(try SegmentReader.readSeal(storage: disk, path: "/v/s.seg", expectedDirectoryID: SegmentTests.directoryID))
        return (disk, seal)
    }

    @Test func vectorDecodesAndIsBuiltByteForByte() throws {
        let (disk, seal) = try Self.vectorMonth()
        let result = try AccountCopyWriter.write(
            storage: disk, segmentPath: "/v/s.seg", indexPath: "/v/s.idx", copyPath: "/v/s.acp", directory: "/v", month: Self.november,
            monthRoot: seal.monthRoot, directoryID: SegmentTests.directoryID)
        let vector = try FormatVectorTests.vector("account-copy.hex")
        #expect(disk.bytes("/v/s.acp") == vector)
        #expect(result == AccountCopyResult(month: Self.november, refCount: 2, fileBytes: vector.count))
        #expect(!disk.fileExists("/v/s.acp.tmp"))

        let record = try FormatVectorTests.vector("segment-record.hex")
        let seed = try SegmentReader.readHeader(storage: disk, path: "/v/s.seg").recordSeed
        let copy = try AccountCopyFile(
            storage: disk, path: "/v/s.acp", month: Self.november, directoryID: SegmentTests.directoryID, monthRoot: seal.monthRoot, refCount: 2, seed: seed)
        #expect(try copy.offsets(0...2) == [4096, 4096 + record.count, 4096 + 2 * record.count])
        let ts: UInt64 = 1_795_219_200_000_000_000
        let records = try #require(try copy.records(0..<2, timestamps: [ts, ts]))
        #expect(records.map(\.event) == [Array(record[32...]), Array(record[32...])])
        #expect(records.map(\.header.lsn) == [7, 7])
        // The index's timestamp must match the copy's.
        #expect(throws: LedgerError.self) { try copy.records(1..<2, timestamps: [ts + 1]) }
        // Another month root, or another ref count, does not open.
        #expect(throws: LedgerError.self) {
            try AccountCopyFile(
                storage: disk, path: "/v/s.acp", month: Self.november, directoryID: SegmentTests.directoryID, monthRoot: [UInt8](repeating: 1, count: 32),
                refCount: 2, seed: seed)
        }
        #expect(throws: LedgerError.self) {
            try AccountCopyFile(
                storage: disk, path: "/v/s.acp", month: Self.november, directoryID: SegmentTests.directoryID, monthRoot: seal.monthRoot, refCount: 3,
                seed: seed)
        }
    }

    /// Every byte of the vector flipped in turn: the copy refuses to open or
    /// to serve a record, or (a byte no check covers: header padding is
    /// checked by the header CRC) serves exactly the original records.
    @Test func everyFlippedByteIsRefusedOrHarmless() throws {
        let (disk, seal) = try Self.vectorMonth()
        let vector = try FormatVectorTests.vector("account-copy.hex")
        let record = try FormatVectorTests.vector("segment-record.hex")
        let seed = try SegmentReader.readHeader(storage: disk, path: "/v/s.seg").recordSeed
        let ts: UInt64 = 1_795_219_200_000_000_000
        var served = 0
        for offset in stride(from: 0, to: vector.count, by: 7) {
            var damaged = vector
            damaged[offset] ^= 0x10
            try disk.openFile("/v/d.acp", create: true).write(damaged, at: 0)
            do {
                let copy = try AccountCopyFile(
                    storage: disk, path: "/v/d.acp", month: Self.november, directoryID: SegmentTests.directoryID, monthRoot: seal.monthRoot, refCount: 2,
                    seed: seed)
                let records = try copy.records(0..<2, timestamps: [ts, ts])
                #expect(records?.map(\.event) == [Array(record[32...]), Array(record[32...])], "flip at \(offset) served other bytes")
                served += 1
            } catch let error as LedgerError {
                #expect(error.code == .corruption && error.path == "/v/d.acp", "flip at \(offset): \(error)")
            }
        }
        // Only the CRC table's zero padding is outside every check.
        #expect(served <= 1, "\(served) flips served")
    }

    /// History pages through the copies equal those through the segments;
    /// the copies are really read (a damaged record in one is refused,
    /// naming it); verify checks every copy; a damaged one is a warning,
    /// and once deleted the next build replaces it.
    @Test func historyThroughCopiesMatchesAndDamageIsNamed() throws {
        let (disk, sealed, opened, clock) = try Self.reopened(seed: 5)
        var ledger = opened
        let accounts = 1...UInt128(MultiMonthWorkload(seed: 5).accountCount)
        let before = try accounts.map { try ledger.history(account: $0, limit: 100_000).items }
        let pagedBefore = try accounts.map { try SegmentQueryTests.paged(ledger, $0, limit: 5) }
        #expect(try ledger.buildAccountCopies().map(\.month) == sealed)
        #expect(try ledger.buildAccountCopies().isEmpty, "a second build has nothing to do")
        #expect(try accounts.map { try ledger.history(account: $0, limit: 100_000).items } == before)
        #expect(try accounts.map { try SegmentQueryTests.paged(ledger, $0, limit: 5) } == pagedBefore)
        try ledger.close()
        let report = try Verifier.verify(at: SegmentQueryTests.root, storage: disk)
        #expect(report.passed && report.problems.isEmpty && report.accountCopiesChecked == sealed.count, "\(report.problems)")

        // A record in the middle of the second month's copy.
        let path = Self.layout.accountCopyPath(sealed[1])
        let header = try #require(AccountCopyFormat.decodeHeader(Array(disk.bytes(path)[0..<AccountCopyFormat.headerBytes])))
        let damagedAt = (AccountCopyFormat.headerBytes + header.offsetsOffset) / 2
        disk.corrupt(path, at: damagedAt)
        let damaged = try Verifier.verify(at: SegmentQueryTests.root, storage: disk)
        #expect(damaged.passed, "a derived file's damage is a warning: \(damaged.problems)")
        let named = damaged.problems.first { $0.kind == "account copy damaged" }
        #expect(named?.file == path && named?.severity == .warning && (named?.offset ?? .max) <= damagedAt, "\(damaged.problems)")

        ledger = try Ledger.open(at: SegmentQueryTests.root, storage: disk, options: SegmentQueryTests.options(clock))
        var refused = 0
        for account in accounts {
            do {
                _ = try ledger.history(account: account, fromNs: sealed[1].startNs, toNs: sealed[1].next.startNs - 1, limit: 100_000)
            } catch let error as LedgerError {
                #expect(error.code == .corruption && error.path == path, "\(error)")
                refused += 1
            }
        }
        #expect(refused >= 1, "no page read the damaged record")
        try disk.removeFile(path)
        #expect(try ledger.buildAccountCopies().map(\.month) == [sealed[1]])
        #expect(try accounts.map { try ledger.history(account: $0, limit: 100_000).items } == before)
        try ledger.close()
    }

    /// Archival deletes a month's copy; a copy beside an archive (a crash
    /// between the two) is deleted by the next build, which builds none for
    /// archived months; a damaged header is rebuilt by the next build.
    @Test func archivalDeletesTheCopyAndBuildsSkipArchives() throws {
        let (disk, sealed, ledger, _) = try Self.reopened(seed: 6)
        try ledger.buildAccountCopies()
        let copy0 = disk.bytes(Self.layout.accountCopyPath(sealed[0]))
        try ledger.archive(before: sealed[1], codec: .lz4, level: 0)
        #expect(!disk.fileExists(Self.layout.accountCopyPath(sealed[0])))
        try disk.openFile(Self.layout.accountCopyPath(sealed[0]), create: true).write(copy0, at: 0)
        disk.corrupt(Self.layout.accountCopyPath(sealed[1]), at: 20)
        #expect(try ledger.buildAccountCopies().map(\.month) == [sealed[1]])
        #expect(!disk.fileExists(Self.layout.accountCopyPath(sealed[0])))
        try ledger.restore(month: sealed[0])
        #expect(try ledger.buildAccountCopies().map(\.month) == [sealed[0]])
        try ledger.close()
        #expect(try Verifier.verify(at: SegmentQueryTests.root, storage: disk).accountCopiesChecked == sealed.count)
    }

    /// A built copy survives a crash (file synced, rename's directory
    /// synced); a half-written one (`.tmp`) is deleted by the next open.
    @Test func builtCopiesAreDurableAndLeftoversAreDeleted() throws {
        let (disk, sealed, opened, clock) = try Self.reopened(seed: 8)
        var ledger = opened
        try ledger.buildAccountCopies()
        let leftover = DataDirectoryLayout.temporaryPath(for: Self.layout.accountCopyPath(sealed[0]))
        let file = try disk.openFile(leftover, create: true)
        try file.write(Array(repeating: 7, count: 5000), at: 0)
        disk.crash(mode: .dropUnsynced)
        ledger = try Ledger.open(at: SegmentQueryTests.root, storage: disk, options: SegmentQueryTests.options(clock))
        #expect(!disk.fileExists(leftover))
        #expect(try ledger.buildAccountCopies().isEmpty, "every copy survived the crash")
        try ledger.close()
        #expect(try Verifier.verify(at: SegmentQueryTests.root, storage: disk).accountCopiesChecked == sealed.count)
    }

    /// A full disk during a build: the error is named, the half-written
    /// copy is removed at once, the engine keeps committing and queries
    /// read the segment; with room again, the next build makes the copy.
    @Test func aFullDiskLeavesNoHalfCopy() throws {
        let (disk, sealed, ledger, _) = try Self.reopened(seed: 10)
        let before = try ledger.history(account: 1, limit: 100_000).items
        disk.noSpace = { $0.hasSuffix(".acp.tmp") }
        #expect {
            try ledger.buildAccountCopies()
        } throws: { error in
            (error as? LedgerError)?.code == .noSpace
        }
        #expect(!disk.names().contains { $0.hasSuffix(".acp") || $0.hasSuffix(".acp.tmp") }, "\(disk.names())")
        #expect(ledger.stopReason == nil)
        #expect(try ledger.history(account: 1, limit: 100_000).items == before)
        disk.noSpace = nil
        #expect(try ledger.buildAccountCopies().map(\.month) == sealed)
        #expect(try ledger.history(account: 1, limit: 100_000).items == before)
        try ledger.close()
    }

    /// A build asks before each month whether to go on (a stopping server
    /// waits for one month's copy, not for all).
    @Test func aBuildStopsBetweenMonthsWhenAsked() throws {
        let (_, sealed, ledger, _) = try Self.reopened(seed: 9)
        #expect(try ledger.buildAccountCopies(continueWhile: { false }).isEmpty)
        var asked = 0
        let first = try ledger.buildAccountCopies(continueWhile: {
            asked += 1
            return asked == 1
        })
        #expect(first.map(\.month) == [sealed[0]] && asked == 2)
        #expect(try ledger.buildAccountCopies().map(\.month) == Array(sealed.dropFirst()))
        try ledger.close()
    }

}
