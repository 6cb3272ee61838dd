import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Archival: sealed months compressed into frames stay queryable and
/// verifiable, restore gives back the segment byte for byte, damage to a
/// frame or the frame index is named, and a crash at any storage operation
/// inside archive or restore leaves every month readable.
@Suite struct ArchiveTests {
    static let root = SegmentQueryTests.root
    static var layout: DataDirectoryLayout { SealVerifyTests.layout }

    @Test(arguments: [(CompressionCodec.zstd, 3), (.lz4, 0), (.zstd, 19), (.lz4, 9)])
    func archivedMonthsAnswerQueriesLikeSegmentsAndRestoreByteForByte(codec: CompressionCodec, level: Int) throws {
        let disk = SimulatedDisk(seed: 21)
        var (ledger, clock, workload) = try SegmentQueryTests.fourMonths(seed: 21, disk: disk)
        let months = try SegmentFiler.months(storage: disk, layout: Self.layout)
        let sealed = Array(months.dropLast())
        #expect(sealed.count >= 2)
        let originals = sealed.map { disk.bytes(Self.layout.segmentPath($0)) }
        let before = try (1...workload.accountCount).map { try ledger.history(account: UInt128($0), limit: 100_000).items }

        // A small frame target, so months span many frames.
        let results = try ledger.archive(before: months.last!, codec: codec, level: level, frameBytesTarget: 4096)
        #expect(results.map(\.month) == sealed)
        #expect(results.allSatisfy { $0.frameCount > 3 && $0.archiveBytes < $0.segmentBytes }, "\(results)")
        for month in sealed {
            #expect(!disk.fileExists(Self.layout.segmentPath(month)) && disk.fileExists(Self.layout.archivePath(month)))
        }
        #expect(disk.fileExists(Self.layout.segmentPath(months.last!)), "the open month is never archived")
        let after = try (1...workload.accountCount).map { try ledger.history(account: UInt128($0), limit: 100_000).items }
        #expect(after == before, "history reads the same from archives")
        try SegmentQueryTests.expectQueriesMatchOracle(ledger, disk, workload, "\(codec) archived, engine open")
        #expect(try ledger.archive(before: months.last!, codec: codec, level: level).isEmpty, "nothing left to archive")
        try ledger.close()

        // Reopened: the filer restores from the archives' seals.
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "\(report.problems)")
        #expect(report.monthForms.filter { $0.form == .archive }.map(\.month) == sealed.map(\.description))
        #expect(try SegmentQueryTests.oracleHistories(disk, accounts: workload.accountCount) == before, "the full-scan oracle reads archives")
        ledger = try Ledger.open(at: Self.root, storage: disk, options: SegmentQueryTests.options(clock))
        try SegmentQueryTests.expectQueriesMatchOracle(ledger, disk, workload, "\(codec) archived, reopened")
        // More months are filed after the archived ones (the chain continues).
        try workload.run(ledger, clock: clock, batches: 60, stepNsMax: 43_200 * 1_000_000_000)
        try SegmentQueryTests.expectQueriesMatchOracle(ledger, disk, workload, "\(codec) archived, extended")

        for (month, original) in zip(sealed, originals) {
            let restored = try #require(try ledger.restore(month: month))
            #expect(restored.month == month && restored.codec == codec)
            #expect(!disk.fileExists(Self.layout.archivePath(month)))
            let bytes = disk.bytes(Self.layout.segmentPath(month))
            #expect(bytes == Array(original.prefix(bytes.count)) && original[bytes.count...].allSatisfy { $0 == 0 }, "\(month) restored byte for byte")
        }
        #expect(try ledger.restore(month: sealed[0]) == nil, "not archived any more")
        try SegmentQueryTests.expectQueriesMatchOracle(ledger, disk, workload, "\(codec) restored")
        try ledger.close()
        let final = try Verifier.verify(at: Self.root, storage: disk)
        #expect(final.passed, "\(final.problems)")
    }

    /// A closed directory whose sealed months are archived with small frames.
    static func archivedDirectory(seed: UInt64 = 31) throws -> (SimulatedDisk, [UTCMonth]) {
        let disk = SimulatedDisk(seed: seed)
        let (ledger, _, _) = try SegmentQueryTests.fourMonths(seed: seed, disk: disk)
        let months = try SegmentFiler.months(storage: disk, layout: layout)
        try ledger.archive(before: months.last!, codec: .zstd, level: 3, frameBytesTarget: 4096)
        try ledger.close()
        return (disk, months)
    }

    static func archive(_ disk: SimulatedDisk, _ month: UTCMonth) throws -> ArchivedSegmentFile {
        try ArchivedSegmentFile(storage: disk, path: layout.archivePath(month), expectedDirectoryID: nil)
    }

    @Test func flippedByteInACompressedFrameIsNamedWithTheFrame() throws {
        let (disk, months) = try Self.archivedDirectory()
        let frame = try Self.archive(disk, months[1]).frames[2]
        let path = Self.layout.archivePath(months[1])
        disk.corrupt(path, at: frame.archiveOffset + frame.compressedBytes / 2)
        let problems = try SealVerifyTests.problems(disk)
        #expect(
            problems.contains { $0.file == path && $0.offset == frame.archiveOffset && $0.kind == "archive corruption" && $0.message.contains("frame 2") },
            "\(problems)")
        // The engine refuses to answer from the damaged frame, naming it too.
        #expect(throws: LedgerError.self) { _ = try Self.archive(disk, months[1]).decompressed(2) }
    }

    @Test func flippedByteInTheFrameIndexIsNamed() throws {
        let (disk, months) = try Self.archivedDirectory()
        let header = try Self.archive(disk, months[0]).header
        let path = Self.layout.archivePath(months[0])
        disk.corrupt(path, at: header.frameIndexOffset + 3 * ArchiveFormat.frameEntryBytes + 20)
        let problems = try SealVerifyTests.problems(disk)
        #expect(problems.contains { $0.file == path && $0.offset == header.frameIndexOffset && $0.kind == "archive corruption" }, "\(problems)")
        #expect {
            _ = try Ledger.open(at: Self.root, storage: disk, options: SegmentQueryTests.options(TestClock(0)))
        } throws: { ($0 as? LedgerError)?.code == .corruption && ($0 as? LedgerError)?.path == path }
    }

    @Test func truncatedArchiveAndDamagedHeaderAreNamed() throws {
        let (disk, months) = try Self.archivedDirectory()
        let path = Self.layout.archivePath(months[0])
        let file = try disk.openFile(path, create: false)
        let size = try file.size()
        try file.truncate(toSize: size - 5)
        try file.sync()
        var problems = try SealVerifyTests.problems(disk)
        #expect(problems.contains { $0.file == path && $0.offset == size - 5 && $0.message.contains("truncated") }, "\(problems)")
        try file.truncate(toSize: size)
        disk.corrupt(path, at: 50)
        problems = try SealVerifyTests.problems(disk)
        #expect(problems.contains { $0.file == path && $0.offset == 0 && $0.message.contains("archive header") }, "\(problems)")
    }

    @Test func missingArchivedMonthBreaksTheChain() throws {
        let (disk, months) = try Self.archivedDirectory()
        try disk.removeFile(Self.layout.archivePath(months[1]))
        let problems = try SealVerifyTests.problems(disk)
        #expect(problems.contains { $0.kind == "month chain broken" && $0.file.contains(months[2].description) }, "\(problems)")
    }

    /// ≥ 20 cycles: crash at a random storage operation inside archive or
    /// restore; reopen; every acknowledged entry is there, every query
    /// answers as before, `verify` passes (naming an interrupted step as a
    /// warning), and running the operation again finishes it.
    @Test(arguments: testSeeds(24))
    func crashInsideArchivalOrRestoreLeavesEveryMonthReadable(seed: UInt64) throws {
        let disk = SimulatedDisk(seed: seed)
        var (ledger, clock, workload) = try SegmentQueryTests.fourMonths(seed: seed, disk: disk)
        let months = try SegmentFiler.months(storage: disk, layout: Self.layout)
        let histories = try (1...workload.accountCount).map { try ledger.history(account: UInt128($0), limit: 100_000).items }
        var rng = SeededRandom(seed: seed)
        let restoring = seed % 2 == 1
        let codec: CompressionCodec = seed % 4 < 2 ? .zstd : .lz4
        if restoring { try ledger.archive(before: months.last!, codec: codec, level: codec.defaultLevel, frameBytesTarget: 8192) }
        // Archiving two months takes about 40 storage operations, restoring
        // one about 12 (counted): crash anywhere in them, or just after.
        disk.crashAtOperation = disk.operations + Int.random(in: 1...(restoring ? 16 : 48), using: &rng)
        if restoring {
            _ = try? ledger.restore(month: months[Int(seed / 2) % (months.count - 1)])
        } else {
            _ = try? ledger.archive(before: months.last!, codec: codec, level: codec.defaultLevel, frameBytesTarget: 8192)
        }
        if disk.crashAtOperation != nil {
            disk.crashAtOperation = nil
            disk.crash()
        }
        ledger = try Ledger.open(at: Self.root, storage: disk, options: SegmentQueryTests.options(clock))
        let missing = try ledger.missingEntries(Array(workload.appliedEntryIDs))
        #expect(missing.isEmpty, "seed \(seed): lost \(missing.prefix(3))")
        let reread = try (1...workload.accountCount).map { try ledger.history(account: UInt128($0), limit: 100_000).items }
        #expect(reread == histories, "seed \(seed): history changed across the crash")
        try ledger.close()
        let report = try Verifier.verify(at: Self.root, storage: disk)
        #expect(report.passed, "seed \(seed): \(report.problems)")
        #expect(report.monthForms.count == months.count)

        // Running it again finishes the job.
        ledger = try Ledger.open(at: Self.root, storage: disk, options: SegmentQueryTests.options(clock))
        if restoring {
            try ledger.restore(month: months[Int(seed / 2) % (months.count - 1)])
        } else {
            try ledger.archive(before: months.last!, codec: codec, level: codec.defaultLevel)
        }
        try SegmentQueryTests.expectQueriesMatchOracle(ledger, disk, workload, "seed \(seed), finished")
        try ledger.close()
        let finished = try Verifier.verify(at: Self.root, storage: disk)
        #expect(finished.passed && !finished.monthForms.contains { $0.form == .both }, "seed \(seed): \(finished.problems)")
        #expect(!disk.names().contains { $0.hasPrefix(Self.layout.segmentsDirectory) && $0.hasSuffix(".tmp") }, "seed \(seed): temporary files remain")
    }
}

extension ArchiveTests {
    /// The Python vectors (frames compressed by the zstd and lz4 CLIs)
    /// decode to the sealed segment; our archiver cuts the same frames and
    /// writes the same container around its own compressed bytes.
    @Test(arguments: [("archive-zstd.hex", CompressionCodec.zstd, 3), ("archive-lz4.hex", .lz4, 0)])
    func archiveVectorsDecodeToTheSealedSegment(name: String, codec: CompressionCodec, level: Int) throws {
        let segment = try FormatVectorTests.vector("segment-sealed.hex")
        let archive = try FormatVectorTests.vector(name)
        let disk = SimulatedDisk(seed: 1)
        let layout = DataDirectoryLayout(root: "/v")
        try disk.makeDirectory(layout.segmentsDirectory)
        let november = UTCMonth(year: 2026, month: 11)
        let directoryID = Array(UInt8(0xf0)...UInt8(0xff))
        for (path, bytes) in [(layout.archivePath(november), archive), (layout.segmentPath(november), segment)] {
            let file = try disk.openFile(path, create: true)
            try file.write(bytes, at: 0)
            try file.sync()
            file.close()
        }
        let reader = try ArchivedSegmentFile(storage: disk, path: layout.archivePath(november), expectedDirectoryID: directoryID)
        #expect(reader.header.codec == codec && reader.header.level == level && reader.header.month == november)
        #expect(reader.frames.map(\.segmentOffset) == [0, 4280] && reader.frames.map(\.segmentBytes) == [4280, 504])
        #expect(try reader.readExactly(try reader.size(), at: 0) == segment)
        // Decoded header and index re-encode to the vector's bytes.
        #expect(reader.header.encoded()[0..<ArchiveFormat.headerUsedBytes] == archive[0..<ArchiveFormat.headerUsedBytes])
        var index = [UInt8](repeating: 0, count: reader.frames.count * ArchiveFormat.frameEntryBytes)
        index.withUnsafeMutableBytes { p in for (i, f) in reader.frames.enumerated() { f.encode(into: p, at: i * ArchiveFormat.frameEntryBytes) } }
        #expect(Array(archive[reader.header.frameIndexOffset...]) == index)
        // The whole month checks as sealed through the archive.
        let scan = try SegmentReader.scan(file: reader, expectedDirectoryID: directoryID)
        #expect(scan.recordCount == 1 && scan.seal?.monthRoot == reader.header.monthRoot)

        // Our archiver: same frames, same header fields apart from its own compressed sizes.
        try disk.removeFile(layout.archivePath(november))
        let result = try SegmentArchiver.writeArchive(
            storage: disk, layout: layout, month: november, directoryID: directoryID, codec: codec, level: level, frameBytesTarget: 4096)
        #expect(result.frameCount == 2 && result.segmentBytes == segment.count && result.recordCount == 1)
        let ours = try ArchivedSegmentFile(storage: disk, path: layout.archivePath(november), expectedDirectoryID: directoryID)
        #expect(ours.frames.map(\.segmentOffset) == reader.frames.map(\.segmentOffset) && ours.frames.map(\.segmentBytes) == reader.frames.map(\.segmentBytes))
        var expected = reader.header
        (expected.frameIndexOffset, expected.frameIndexCRC) = (ours.header.frameIndexOffset, ours.header.frameIndexCRC)
        #expect(ours.header == expected)
        #expect(try ours.readExactly(segment.count, at: 0) == segment)
        try SegmentArchiver.checkArchiveMatchesSegment(storage: disk, layout: layout, month: november, directoryID: directoryID)
    }
}
