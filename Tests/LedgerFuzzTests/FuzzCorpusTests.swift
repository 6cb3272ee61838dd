import Foundation
import Testing

@testable import LedgerEngine
@testable import LedgerFuzzTargets

/// Every committed fuzz input (seeds, interesting inputs, and each crash the
/// fuzzer found, under `regressions/`) runs through its target on every
/// `swift test`: a crash found once stays fixed.
@Suite struct FuzzCorpusTests {
    @Test(arguments: FuzzTarget.allCases)
    func corpusRunsWithoutCrashing(_ target: FuzzTarget) throws {
        let files = FuzzCorpus.files(at: FuzzCorpus.directory(target))
        #expect(!files.isEmpty, "no corpus for \(target.rawValue) in \(FuzzCorpus.directory(target).path)")
        for file in files { target.run(FuzzCorpus.bytes(file)) }
    }
}

/// The seeds are well-formed files (so the fuzzer starts from inputs that
/// reach every decoder's end, not from ones refused at byte 0): a format
/// change that leaves them stale fails here, and `make-seeds.py` is rerun.
@Suite struct FuzzSeedTests {
    static func seed(_ target: FuzzTarget, _ name: String) -> [UInt8] {
        FuzzCorpus.bytes(FuzzCorpus.directory(target).appendingPathComponent("seed-" + name))
    }

    @Test func walSeedsHoldOneValidGroup() throws {
        for (target, name) in [(FuzzTarget.wal, "one-group-8k"), (.wal, "accounts-and-entry")] {
            let disk = FileFuzz.directory(wal: Self.seed(target, name))
            let scan = try WALReader(storage: disk, layout: FileFuzz.layout).scan(mode: .verify) { _ in }
            #expect(scan.recordCount == 1 && scan.problems.isEmpty, "\(name): \(scan.problems)")
        }
        let sealed = try #require(FileFuzz.sealedWAL(payloadsIn: Self.seed(.walPayloads, "two-groups")))
        let scan = try WALReader(storage: FileFuzz.directory(wal: sealed), layout: FileFuzz.layout).scan(mode: .verify) { _ in }
        #expect(scan.recordCount == 2 && scan.problems.isEmpty, "\(scan.problems)")
    }

    @Test func directorySeedOpensAndVerifies() throws {
        let disk = FileFuzz.directory(wal: Array(Self.seed(.directory, "wal-8k").dropFirst()))
        let reader = try LedgerReader(at: FileFuzz.layout.root, storage: disk)
        #expect(reader.lastLSN == 1 && reader.account(id: 2)?.creditsPosted == 2500)
        reader.close()
        let report = try Verifier.verify(at: FileFuzz.layout.root, storage: disk)
        #expect(report.problems.filter { $0.severity == .error }.isEmpty, "\(report.problems)")
    }

    @Test func segmentArchiveIndexAndSnapshotSeedsDecode() throws {
        let segmentDisk = FileFuzz.directory([(FileFuzz.layout.segmentPath(FileFuzz.month), Self.seed(.segment, "sealed"))])
        let scan = try SegmentReader.scan(storage: segmentDisk, path: FileFuzz.layout.segmentPath(FileFuzz.month), expectedDirectoryID: FileFuzz.directoryID)
        #expect(scan.recordCount == 1 && scan.seal != nil)
        for codec in ["zstd", "lz4"] {
            let path = FileFuzz.layout.archivePath(FileFuzz.month)
            let archive = try ArchivedSegmentFile(
                storage: FileFuzz.directory([(path, Self.seed(.archive, codec))]), path: path, expectedDirectoryID: FileFuzz.directoryID)
            #expect(try SegmentReader.scan(file: archive, expectedDirectoryID: FileFuzz.directoryID).recordCount == 1)
            archive.close()
        }
        let indexBytes = Self.seed(.monthIndex, "one-record")
        let indexPath = FileFuzz.layout.segmentIndexPath(FileFuzz.month)
        let index = try MonthIndexFile(
            storage: FileFuzz.directory([(indexPath, indexBytes)]), path: indexPath, month: FileFuzz.month,
            directoryID: FileFuzz.directoryID, monthRoot: Array(indexBytes[40..<72]))
        #expect(try index.entryOffset(1001) != nil)
        let copyBytes = Self.seed(.accountCopy, "one-record")
        let copyPath = FileFuzz.layout.accountCopyPath(FileFuzz.month)
        let copy = try AccountCopyFile(
            storage: FileFuzz.directory([(copyPath, copyBytes)]), path: copyPath, month: FileFuzz.month, directoryID: FileFuzz.directoryID,
            monthRoot: Array(copyBytes[40..<72]), refCount: 2, seed: SegmentFileHeader(month: FileFuzz.month, directoryID: FileFuzz.directoryID).recordSeed)
        #expect(try copy.records(0..<2, timestamps: [1_795_219_200_000_000_000, 1_795_219_200_000_000_000])?.count == 2)
        let savedBytes = Self.seed(.openMonthIndex, "one-record")
        let savedPath = FileFuzz.layout.openMonthIndexPath(FileFuzz.month)
        let saved = try OpenMonthIndexFile.read(
            storage: FileFuzz.directory([(savedPath, savedBytes)]), path: savedPath, month: FileFuzz.month, directoryID: FileFuzz.directoryID,
            reserveEvents: 0)
        #expect(saved.header.recordCount == 1 && saved.index.accountCount == 2)
        let snapshotPath = FileFuzz.layout.snapshotPath(lsn: 1)
        let (header, machine, _) = try SnapshotStore.load(
            path: snapshotPath, storage: FileFuzz.directory([(snapshotPath, Self.seed(.snapshot, "one-batch"))]), directoryID: FileFuzz.directoryID)
        #expect(header.lsn == 1 && machine.accountCount == 2)
    }
}
