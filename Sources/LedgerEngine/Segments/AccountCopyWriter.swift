// Builds a sealed month's account-ordered copy (Specs/account-copy-format.md)
// from its segment and month index: the segment is checked against its
// month root first (so the copy is of the sealed month the engine knows,
// and the pass leaves the segment in the page cache), then every ref's
// record is copied in ref order through a mapping of the segment, and the
// file is made durable as every derived file is: `<name>.tmp`, fdatasync,
// rename, fsync of `segments/`.

public struct AccountCopyResult: Sendable, Equatable {
    public var month: UTCMonth
    public var refCount: Int
    public var fileBytes: Int
}

enum AccountCopyWriter {
    /// Builds `layout.accountCopyPath(month)` for a sealed month held as a segment.
    static func write(storage: any Storage, layout: DataDirectoryLayout, month: UTCMonth, monthRoot: [UInt8], directoryID: [UInt8]) throws
        -> AccountCopyResult
    {
        try write(
            storage: storage, segmentPath: layout.segmentPath(month), indexPath: layout.segmentIndexPath(month), copyPath: layout.accountCopyPath(month),
            directory: layout.segmentsDirectory, month: month, monthRoot: monthRoot, directoryID: directoryID)
    }

    static func write(
        storage: any Storage, segmentPath: String, indexPath: String, copyPath: String, directory: String, month: UTCMonth, monthRoot: [UInt8],
        directoryID: [UInt8]
    ) throws -> AccountCopyResult {
        let index = try MonthIndexFile(storage: storage, path: indexPath, month: month, directoryID: directoryID, monthRoot: monthRoot)
        let segment = try storage.openFileForReading(segmentPath)
        defer { segment.close() }
        try SegmentReader.checkMonthRoot(file: segment, expectedDirectoryID: directoryID, expectedRoot: monthRoot, month: month)

        let temporary = DataDirectoryLayout.temporaryPath(for: copyPath)
        if storage.fileExists(temporary) { try storage.removeFile(temporary) }
        let file = try storage.openFile(temporary, create: true)
        defer { file.close() }
        do {
            return try write(
                into: file, temporary: temporary, index: index, segment: segment, segmentPath: segmentPath, copyPath: copyPath,
                directory: directory, storage: storage, month: month, monthRoot: monthRoot, directoryID: directoryID)
        } catch {
            // A half-written copy (a full disk, a damaged segment) is ours:
            // removed at once, not left holding up to 1.5 GB until the next open.
            try? storage.removeFile(temporary)
            throw error
        }
    }

    // Long: one pass in order (copy, table, header, durability); split, it would hand six values around.
    private static func write(
        into file: any StorageFile, temporary: String, index: MonthIndexFile, segment: any ReadableFile, segmentPath: String, copyPath: String,
        directory: String, storage: any Storage, month: UTCMonth, monthRoot: [UInt8], directoryID: [UInt8]
    ) throws -> AccountCopyResult {
        let seed = try SegmentReader.readHeader(file: segment).recordSeed
        let segmentBytes = try segment.size()
        var out = ChunkedFileOutput(file: file, at: AccountCopyFormat.headerBytes)
        // The offsets table, filled as the records are copied.
        var table = [UInt8](repeating: 0, count: (index.refCount + 1) * AccountCopyFormat.offsetBytes)
        try segment.withContents(segmentBytes, mapped: true) { seg in
            try table.withUnsafeMutableBytes { t in
                try index.forEachRef { r, timestamp, offset in
                    _LE.put(t, r * AccountCopyFormat.offsetBytes, UInt64(out.position))
                    try out.append(try record(seg, at: offset, timestamp: timestamp, seed: seed, path: segmentPath))
                }
                _LE.put(t, index.refCount * AccountCopyFormat.offsetBytes, UInt64(out.position))
            }
        }
        let header = AccountCopyFormat.Header(
            month: month, directoryID: directoryID, monthRoot: monthRoot, refCount: index.refCount, offsetsOffset: out.position)
        var crcs = [UInt8](repeating: 0, count: header.fileBytes - header.crcsOffset)
        crcs.withUnsafeMutableBytes { c in
            for (b, crc) in table.withUnsafeBytes({ AccountCopyFormat.blockCRCs($0) }).enumerated() { _LE.put(c, 4 * b, crc) }
        }
        try table.withUnsafeBytes { try out.append($0) }
        try crcs.withUnsafeBytes { try out.append($0) }
        try out.flush()
        precondition(out.position == header.fileBytes, "copy of \(month): wrote \(out.position) bytes, header says \(header.fileBytes)")
        try file.write(AccountCopyFormat.encodeHeader(header), at: 0)
        try file.sync()
        try storage.rename(temporary, to: copyPath)
        try storage.syncDirectory(directory)
        return AccountCopyResult(month: month, refCount: index.refCount, fileBytes: header.fileBytes)
    }

    /// The whole record at `offset` of the segment's bytes, checked (structure,
    /// CRC, the ref's timestamp); `corruption` naming the segment otherwise.
    static func record(_ segment: UnsafeRawBufferPointer, at offset: Int, timestamp: UInt64, seed: UInt32, path: String) throws
        -> UnsafeRawBufferPointer
    {
        guard offset >= SegmentFormat.fileHeaderBytes, let header = SegmentRecordHeader.standalone(segment, at: offset, seed: seed),
            header.timestamp == timestamp
        else {
            throw LedgerError(
                .corruption, "the month index points at offset \(offset), where no record of that timestamp is; run `ledgerctl verify`", path: path,
                offset: offset)
        }
        return UnsafeRawBufferPointer(rebasing: segment[offset..<(offset + SegmentFormat.recordHeaderBytes + header.eventBytes)])
    }
}

/// Sequential writes gathered into 1 MiB chunks (a syscall per record
/// would be millions per month). Every `writeBackEveryBytes` the kernel is
/// asked to start writing back what was written so far (and to drop the
/// pages already clean): a copy is ~1.5 GB, and left to the final fdatasync
/// its write-back queued ahead of the WAL's fdatasyncs; an fdatasync every
/// 32 MiB instead was worse for them at batch 1 (a device flush each).
/// Measured beside a loaded server: Benchmarks/RESULTS.md, issue 13,
/// session 13. The caller's fdatasync at the end makes the file durable.
struct ChunkedFileOutput {
    static let chunkBytes = 1 << 20
    static let writeBackEveryBytes = 32 << 20
    let file: any StorageFile
    private(set) var position: Int
    private var buffer: [UInt8] = []
    private var bufferStart: Int
    /// Where the bytes not yet handed to write-back start.
    private var writeBackFrom: Int

    init(file: any StorageFile, at offset: Int) {
        self.file = file
        position = offset
        bufferStart = offset
        writeBackFrom = offset
        buffer.reserveCapacity(Self.chunkBytes)
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > Self.chunkBytes { try flush() }
        if bytes.count >= Self.chunkBytes {
            try file.write(bytes, at: position)
            bufferStart += bytes.count
            handOverWriteBack()
        } else {
            buffer.append(contentsOf: bytes)
        }
        position += bytes.count
    }

    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try file.write(buffer, at: bufferStart)
        bufferStart += buffer.count
        handOverWriteBack()
        buffer.removeAll(keepingCapacity: true)
    }

    /// Every `writeBackEveryBytes` written: the new stretch's write-back
    /// started, and the stretch before it (written back by now) dropped.
    private mutating func handOverWriteBack() {
        guard bufferStart - writeBackFrom >= Self.writeBackEveryBytes else { return }
        let from = max(0, writeBackFrom - Self.writeBackEveryBytes)
        file.startWriteBack(offset: from, count: bufferStart - from)
        writeBackFrom = bufferStart
    }
}

extension MonthIndexFile {
    /// Every event ref's timestamp and segment offset, in ref order (accounts
    /// in id order, each account's refs in time order), a few blocks at a time.
    func forEachRef(_ body: (_ ref: Int, _ timestamp: UInt64, _ offset: Int) throws -> Void) throws {
        let rowsPerRead = 4096
        var row = 0
        while row < refCount {
            let n = min(rowsPerRead, refCount - row)
            let bytes = try read(refsOffset + row * MonthIndexFormat.eventRefBytes, n * MonthIndexFormat.eventRefBytes)
            try bytes.withUnsafeBytes { p in
                for i in 0..<n {
                    let o = i * MonthIndexFormat.eventRefBytes
                    try body(row + i, _LE.u64(p, o), _LE.size(p, o + 8))
                }
            }
            row += n
        }
    }
}
