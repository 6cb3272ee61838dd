import Dispatch

// Archival and restore of sealed months (Specs/archive-format.md).
//
// Archive, crash-safe at every step (a month is always readable in its old
// or its new form, never neither):
//   1. stream the sealed segment, checking every record CRC and the month
//      root against the seal (a damaged month is never archived), cutting
//      frames at record boundaries and compressing each;
//   2. write `YYYY-MM.arc.tmp` (frames, frame index, then the header),
//      fdatasync, rename to `YYYY-MM.arc`, fsync the directory;
//   3. every frame is decompressed and compared with its input as soon as
//      it is compressed; the written file is read back and every frame's
//      CRC32C checked (finishing an interrupted archival instead compares
//      the whole archive with the segment, byte for byte);
//   4. delete `YYYY-MM.seg`, fsync the directory.
// A crash before 2's rename leaves the segment (and a `.tmp` deleted at the
// next open); between 2 and 4 it leaves both, complete (`SegmentForm.both`),
// and running archive again finishes the job after step 3.
//
// Restore is the mirror image: decompress into `YYYY-MM.seg.tmp`, fdatasync,
// check it as a sealed segment, rename, fsync the directory, delete the
// archive, fsync the directory.
//
// Sealed months are immutable, so both run while the engine keeps
// committing; only the switch of the form a query reads is made on the
// engine's apply thread (Ledger.archive / Ledger.restore).

/// What archiving or restoring one month did.
public struct ArchiveResult: Sendable, Equatable {
    public var month: UTCMonth
    public var codec: CompressionCodec
    public var level: Int
    public var segmentBytes: Int
    public var archiveBytes: Int
    public var frameCount: Int
    public var recordCount: Int
}

public enum SegmentArchiver {
    /// Buffered writes of the archive body: one write per this many bytes.
    static let writeChunkBytes = 1 << 20
    /// Bytes read per window when streaming a segment or comparing files.
    static let readWindowBytes = 8 << 20

    /// Frames are compressed on this many threads (the machine has 2 cores;
    /// measured in Benchmarks/RESULTS.md).
    public static let compressionThreads = 2

    /// Compresses `inputs` in order, input i on compressor i % count, each
    /// compressor on its own thread.
    static func compressInParallel(_ inputs: [[UInt8]], _ compressors: [FrameCompressor]) throws -> [[UInt8]] {
        let results = UnsafeMutableBufferPointer<Result<[UInt8], Error>?>.allocate(capacity: inputs.count)
        results.initialize(repeating: nil)
        defer {
            results.deinitialize()
            results.deallocate()
        }
        nonisolated(unsafe) let slots = results
        DispatchQueue.concurrentPerform(iterations: compressors.count) { worker in
            let decompressor = FrameDecompressor(codec: compressors[worker].codec)
            for i in stride(from: worker, to: inputs.count, by: compressors.count) {
                slots[i] = Result {
                    let frame = try inputs[i].withUnsafeBytes { try compressors[worker].compress($0) }
                    // Round trip while the input is at hand: the written file
                    // then needs only its CRCs checked (checkArchiveFrames).
                    let back = try frame.withUnsafeBytes { try decompressor.decompress($0, decompressedBytes: inputs[i].count) }
                    guard back == inputs[i] else {
                        throw LedgerError(
                            .io, "the \(compressors[worker].codec) round trip of a frame changed its bytes (a compressor bug): nothing was archived")
                    }
                    return frame
                }
            }
        }
        return try results.map { try $0!.get() }
    }

    /// Steps 1–2: writes and renames the archive of a sealed month into
    /// place. The segment is left alone.
    public static func writeArchive(
        storage: any Storage, layout: DataDirectoryLayout, month: UTCMonth, directoryID: [UInt8], codec: CompressionCodec, level: Int,
        frameBytesTarget: Int = ArchiveFormat.frameBytesTargetDefault
    ) throws -> ArchiveResult {
        precondition(
            codec.levels.contains(level) && ArchiveFormat.frameBytesTargetRange.contains(frameBytesTarget), "level \(level), frame target \(frameBytesTarget)")
        let segment = try storage.openFile(layout.segmentPath(month), create: false)
        defer { segment.close() }
        let temporary = layout.archiveTemporaryPath(month)
        if storage.fileExists(temporary) { try storage.removeFile(temporary) }
        let out = try storage.openFile(temporary, create: true)
        defer { out.close() }
        var frames: [ArchiveFrame] = []
        var archiveOffset = ArchiveFormat.headerBytes
        var frameStart = 0
        var frameBytes: [UInt8] = []  // segment bytes of the frame being cut
        frameBytes.reserveCapacity(frameBytesTarget + SegmentFormat.eventBytesMax + SegmentFormat.recordHeaderBytes)
        // Cut frames wait here and are compressed `compressionThreads` at a
        // time (each thread with its own context), then written in order.
        var cut: [[UInt8]] = []
        let compressors = try (0..<compressionThreads).map { _ in try FrameCompressor(codec: codec, level: level) }

        func compressAndWrite() throws {
            guard !cut.isEmpty else { return }
            let compressed = try compressInParallel(cut, compressors)
            var chunk: [UInt8] = []
            chunk.reserveCapacity(compressed.reduce(0) { $0 + $1.count })
            for (segment, frame) in zip(cut, compressed) {
                frames.append(
                    ArchiveFrame(
                        segmentOffset: frameStart, segmentBytes: segment.count, archiveOffset: archiveOffset + chunk.count, compressedBytes: frame.count,
                        compressedCRC: frame.withUnsafeBytes { Checksum.mask(Checksum.crc32c($0)) }))
                frameStart += segment.count
                chunk.append(contentsOf: frame)
            }
            try out.write(chunk, at: archiveOffset)
            archiveOffset += chunk.count
            cut.removeAll(keepingCapacity: true)
        }

        func closeFrame() throws {
            guard !frameBytes.isEmpty else { return }
            cut.append(frameBytes)
            frameBytes.removeAll(keepingCapacity: true)
            if cut.count * frameBytesTarget >= writeChunkBytes { try compressAndWrite() }
        }

        let checked = try forEachSealedRecord(file: segment, directoryID: directoryID) { bytes, isRecord in
            // Frames end after a record (never after the header page alone),
            // so a lookup decompresses one frame.
            frameBytes.append(contentsOf: bytes)
            if isRecord && frameBytes.count >= frameBytesTarget { try closeFrame() }
        } sealBytes: { bytes in
            try closeFrame()  // the seal is a frame of its own: opening reads only it
            frameBytes.append(contentsOf: bytes)
            try closeFrame()
        }
        try compressAndWrite()

        let header = ArchiveHeader(
            codec: codec, level: level, month: month, directoryID: directoryID, frameCount: frames.count, segmentBytes: frameStart,
            frameIndexOffset: archiveOffset, frameIndexCRC: 0, frameBytesTarget: frameBytesTarget, monthRoot: checked.seal.monthRoot)
        let written = try finishArchive(out, frames: frames, header: header)
        try storage.rename(temporary, to: layout.archivePath(month))
        try storage.syncDirectory(layout.segmentsDirectory)
        CrashPoints.reached("archive.renamed")
        return ArchiveResult(
            month: month, codec: codec, level: level, segmentBytes: frameStart, archiveBytes: written.fileBytes, frameCount: frames.count,
            recordCount: Int(checked.seal.recordCount))
    }

    /// Writes the frame index after the frames and the header (with the
    /// index's CRC) at the front, then syncs the file. Returns the header.
    private static func finishArchive(_ out: any StorageFile, frames: [ArchiveFrame], header: ArchiveHeader) throws -> ArchiveHeader {
        var index = [UInt8](repeating: 0, count: frames.count * ArchiveFormat.frameEntryBytes)
        index.withUnsafeMutableBytes { p in
            for (i, frame) in frames.enumerated() { frame.encode(into: p, at: i * ArchiveFormat.frameEntryBytes) }
        }
        var header = header
        header.frameIndexCRC = index.withUnsafeBytes { Checksum.mask(Checksum.crc32c($0)) }
        try out.write(index, at: header.frameIndexOffset)
        try out.write(header.encoded(), at: 0)
        CrashPoints.reached("archive.framesWritten")
        try out.sync()
        return header
    }

    /// Step 3 after `writeArchive`: every frame was decompressed and compared
    /// with its input while it was compressed, so the written file needs its
    /// header, frame index and every frame's CRC32C read back and checked
    /// (a write that reached the wrong place or the wrong bytes fails here).
    public static func checkArchiveFrames(storage: any Storage, layout: DataDirectoryLayout, month: UTCMonth, directoryID: [UInt8]) throws {
        let archive = try ArchivedSegmentFile(storage: storage, path: layout.archivePath(month), expectedDirectoryID: directoryID)
        defer { archive.close() }
        let file = try storage.openFile(layout.archivePath(month), create: false)
        defer { file.close() }
        var offset = ArchiveFormat.headerBytes
        var next = 0  // the first frame not yet checked
        while next < archive.frames.count {
            var last = next
            while last + 1 < archive.frames.count
                && archive.frames[last + 1].archiveOffset + archive.frames[last + 1].compressedBytes - offset <= readWindowBytes
            { last += 1 }
            let end = archive.frames[last].archiveOffset + archive.frames[last].compressedBytes
            let window = try file.readExactly(end - offset, at: offset)
            try window.withUnsafeBytes { raw in
                for i in next...last {
                    let frame = archive.frames[i]
                    let bytes = UnsafeRawBufferPointer(rebasing: raw[(frame.archiveOffset - offset)..<(frame.archiveOffset - offset + frame.compressedBytes)])
                    guard Checksum.mask(Checksum.crc32c(bytes)) == frame.compressedCRC else {
                        throw LedgerError(
                            .corruption, "archive frame \(i) reads back with another CRC32C than was written", path: archive.path, offset: frame.archiveOffset)
                    }
                }
            }
            offset = end
            next = last + 1
        }
        CrashPoints.reached("archive.compared")
    }

    /// Step 3 when finishing an interrupted archival or restore (and for
    /// `verify`): the archive must decompress to exactly the segment's bytes.
    /// Throws `corruption` naming the first differing offset.
    public static func checkArchiveMatchesSegment(storage: any Storage, layout: DataDirectoryLayout, month: UTCMonth, directoryID: [UInt8]) throws {
        let segment = try storage.openFile(layout.segmentPath(month), create: false)
        defer { segment.close() }
        let archive = try ArchivedSegmentFile(storage: storage, path: layout.archivePath(month), expectedDirectoryID: directoryID)
        defer { archive.close() }
        guard let seal = try SegmentReader.readSeal(file: segment, expectedDirectoryID: directoryID) else {
            throw LedgerError(.corruption, "\(month) is not sealed", path: segment.path)
        }
        guard seal.monthRoot == archive.header.monthRoot else {
            throw LedgerError(.corruption, "the archive of \(month) names another month root than the segment's seal", path: archive.path, offset: 64)
        }
        let segmentBytes = try durableEnd(of: segment)
        guard segmentBytes == archive.header.segmentBytes else {
            throw LedgerError(
                .corruption, "the archive of \(month) holds \(archive.header.segmentBytes) bytes; the segment \(segmentBytes)", path: archive.path, offset: 40)
        }
        var offset = 0
        while offset < segmentBytes {
            let count = min(readWindowBytes, segmentBytes - offset)
            let a = try segment.readExactly(count, at: offset)
            let b = try archive.readExactly(count, at: offset)
            if a != b {
                let first = offset + (0..<count).first { a[$0] != b[$0] }!
                throw LedgerError(.corruption, "the archive of \(month) differs from its segment at segment offset \(first)", path: archive.path)
            }
            offset += count
        }
        CrashPoints.reached("archive.compared")
    }

    /// Step 4: deletes the segment of an archived month.
    public static func removeSegment(storage: any Storage, layout: DataDirectoryLayout, month: UTCMonth) throws {
        try storage.removeFile(layout.segmentPath(month))
        CrashPoints.reached("archive.segmentRemoved")  // before the directory sync: the removal may be lost
        try storage.syncDirectory(layout.segmentsDirectory)
    }

    /// Restore, up to the rename: the segment is back beside the archive.
    public static func writeSegment(storage: any Storage, layout: DataDirectoryLayout, month: UTCMonth, directoryID: [UInt8]) throws -> ArchiveResult {
        let archive = try ArchivedSegmentFile(storage: storage, path: layout.archivePath(month), expectedDirectoryID: directoryID)
        defer { archive.close() }
        let temporary = layout.segmentTemporaryPath(month)
        if storage.fileExists(temporary) { try storage.removeFile(temporary) }
        let out = try storage.openFile(temporary, create: true)
        defer { out.close() }
        for i in archive.frames.indices {
            try out.write(try archive.decompressed(i), at: archive.frames[i].segmentOffset)
        }
        CrashPoints.reached("restore.segmentWritten")
        try out.sync()
        // The restored file must be a valid sealed month with the same root.
        let checked = try forEachSealedRecord(file: out, directoryID: directoryID) { _, _ in
        } sealBytes: { _ in
        }
        guard checked.seal.monthRoot == archive.header.monthRoot else {
            throw LedgerError(
                .corruption, "the archive of \(month) decompresses to a month with another root than its header names", path: archive.path, offset: 64)
        }
        try storage.rename(temporary, to: layout.segmentPath(month))
        CrashPoints.reached("restore.renamed")
        try storage.syncDirectory(layout.segmentsDirectory)
        return ArchiveResult(
            month: month, codec: archive.header.codec, level: archive.header.level, segmentBytes: archive.header.segmentBytes,
            archiveBytes: archive.header.fileBytes, frameCount: archive.frames.count, recordCount: Int(checked.seal.recordCount))
    }

    /// Restore's last step: deletes the archive of a restored month.
    public static func removeArchive(storage: any Storage, layout: DataDirectoryLayout, month: UTCMonth) throws {
        try storage.removeFile(layout.archivePath(month))
        CrashPoints.reached("restore.archiveRemoved")
        try storage.syncDirectory(layout.segmentsDirectory)
    }

    /// The durable end of a segment (its frontier): a sealed segment's bytes
    /// are `[0, durable end)`; zeros may follow.
    static func durableEnd(of file: any ReadableFile) throws -> Int {
        let headerPage = try file.readExactly(SegmentFormat.fileHeaderBytes, at: 0)
        let header = try SegmentFileHeader.decode(Array(headerPage[0..<SegmentFormat.fileHeaderUsedBytes]), path: file.path)
        return try headerPage.withUnsafeBytes { try SegmentFrontier.read(headerPage: $0, seed: header.recordSeed, path: file.path) }.frontier.durableEndOffset
    }

    /// Streams a sealed segment window by window (never the whole file in
    /// memory), checking every record (CRC, structure, order, month) and the
    /// month root and record count against the seal. `bytes` receives the
    /// header page (isRecord false), then each record; `sealBytes` the seal.
    public static func forEachSealedRecord(
        file: any ReadableFile, directoryID: [UInt8], bytes visit: (UnsafeRawBufferPointer, _ isRecord: Bool) throws -> Void,
        sealBytes: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> (header: SegmentFileHeader, seal: SegmentSeal) {
        let path = file.path
        let headerPage = try file.readExactly(SegmentFormat.fileHeaderBytes, at: 0)
        let header = try SegmentFileHeader.decode(Array(headerPage[0..<SegmentFormat.fileHeaderUsedBytes]), path: path)
        guard header.directoryID == directoryID else { throw LedgerError(.corruption, "segment belongs to another data directory", path: path, offset: 24) }
        guard let seal = try SegmentReader.readSeal(file: file, expectedDirectoryID: directoryID) else {
            throw LedgerError(.corruption, "\(header.month) is not sealed; only sealed months are archived", path: path)
        }
        let end = try durableEnd(of: file)
        let sealOffset = end - seal.encodedBytes
        try headerPage.withUnsafeBytes { try visit($0, false) }
        let seed = header.recordSeed
        let hasher = SegmentSeal.rootHasher(directoryID: directoryID, month: header.month, previousRoot: seal.previousRoot)
        var offset = SegmentFormat.fileHeaderBytes
        var count: UInt64 = 0
        var last: (lsn: UInt64, timestamp: UInt64) = (0, 0)
        while offset < sealOffset {
            let window = try file.readExactly(min(readWindowBytes, sealOffset - offset), at: offset)
            let consumed: Int = try window.withUnsafeBytes { raw in
                var at = 0
                while at < raw.count {
                    guard let record = SegmentRecordHeader.standalone(raw, at: at, seed: seed) else {
                        // A record cut by the window's end is read again in the next window.
                        if at > 0 && at + SegmentFormat.recordHeaderBytes + SegmentFormat.eventBytesMax > raw.count { break }
                        throw LedgerError(.corruption, "invalid record in a sealed month; run `ledgerctl verify`", path: path, offset: offset + at)
                    }
                    guard record.lsn >= last.lsn, record.timestamp > last.timestamp, header.month.contains(record.timestamp) else {
                        throw LedgerError(.corruption, "record out of order or outside \(header.month)", path: path, offset: offset + at)
                    }
                    let bytes = UnsafeRawBufferPointer(rebasing: raw[at..<(at + record.recordBytes)])
                    hasher.update(bytes)
                    try visit(bytes, true)
                    last = (record.lsn, record.timestamp)
                    count += 1
                    at += record.recordBytes
                }
                return at
            }
            offset += consumed
        }
        guard offset == sealOffset, count == seal.recordCount, last.lsn == seal.lastLSN, last.timestamp == seal.lastTimestamp else {
            throw LedgerError(.corruption, "the seal does not describe the records before it", path: path, offset: sealOffset)
        }
        guard hasher.finish() == seal.monthRoot else {
            throw LedgerError(.corruption, "month root in the seal does not match the month's records (SHA-256)", path: path, offset: sealOffset + 96)
        }
        try file.readExactly(seal.encodedBytes, at: sealOffset).withUnsafeBytes { try sealBytes($0) }
        return (header, seal)
    }
}
