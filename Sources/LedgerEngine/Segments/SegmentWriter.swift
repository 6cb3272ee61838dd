// Appends event records to one month's segment file. Records are buffered
// and written in large pwrites; `sync` makes everything appended durable.
// A segment is derived from the WAL, so the engine decides when syncing is
// needed (before it may drop WAL covered by the segment).
//
// Invariants: `endOffset` is where the next record goes and the file holds
// nothing after it; timestamps strictly increase and lie in `month`; LSNs
// never decrease; `rootHasher` has seen every record before `endOffset`
// (records are hashed as they are flushed); a sealed segment takes no appends.
public final class SegmentWriter {
    let storage: any Storage
    public let path: String
    public let header: SegmentFileHeader
    private let seed: UInt32
    private let file: any ReadableFile
    /// The same file opened for writing; nil for a read-only open, which
    /// never appends, truncates or writes a frontier.
    private let writable: (any StorageFile)?
    /// Set by a read-only open when the file has a torn tail that a
    /// read-write open would truncate: the offset where it starts.
    public private(set) var tornTailNotTruncated: Int?
    private var buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    public private(set) var endOffset: Int
    public private(set) var recordCount: Int
    public private(set) var lastLSN: UInt64
    public private(set) var lastTimestamp: UInt64
    public private(set) var frontier: SegmentFrontier
    private var frontierSlot: Int
    /// The month root so far (see `SegmentSeal.rootHasher`).
    private var rootHasher: SHA256Hasher
    public let previousMonth: UTCMonth?
    public let previousRoot: [UInt8]
    public private(set) var seal: SegmentSeal?
    public private(set) var firstLSN: UInt64 = 0
    public private(set) var firstTimestamp: UInt64 = 0
    /// The month root's digest after the records before `init`'s
    /// `rootSoFarAt` (nil when not asked, or the records end before it).
    public let scannedRootSoFar: [UInt8]?

    static let bufferBytes = 1 << 20

    /// Opens the month's segment, creating it (and `segments/`) if needed;
    /// truncates a torn tail left by a crash. `previousMonth`/`previousRoot`
    /// name the latest sealed month before this one (nil and zeros if none).
    /// `visit` sees each record already in the file. `rootSoFarAt`: keep the
    /// month root's digest after the records before that offset
    /// (`scannedRootSoFar`, for a saved open-month index to be checked).
    public init(
        storage: any Storage, layout: DataDirectoryLayout, month: UTCMonth, directoryID: [UInt8],
        previousMonth: UTCMonth? = nil, previousRoot: [UInt8] = [UInt8](repeating: 0, count: 32),
        readOnly: Bool = false, rootSoFarAt: Int? = nil, visit: (SegmentRecord) throws -> Void = { _ in }
    ) throws {
        self.storage = storage
        path = layout.segmentPath(month)
        precondition(!readOnly || storage.fileExists(path), "a read-only open of \(month), which has no segment")
        if !storage.fileExists(layout.segmentsDirectory) {
            try storage.makeDirectory(layout.segmentsDirectory)
            try storage.syncDirectory(layout.root)
        }
        if !storage.fileExists(path) {
            let temporary = DataDirectoryLayout.temporaryPath(for: path)
            if storage.fileExists(temporary) { try storage.removeFile(temporary) }
            let created = try storage.openFile(temporary, create: true)
            try created.write(
                SegmentFileHeader(month: month, directoryID: directoryID, previousMonth: previousMonth, previousRoot: previousRoot).encoded(), at: 0)
            try created.sync()
            created.close()
            try storage.rename(temporary, to: path)
            try storage.syncDirectory(layout.segmentsDirectory)
        }
        rootHasher = SegmentSeal.rootHasher(directoryID: directoryID, month: month, previousRoot: previousRoot)
        self.previousMonth = previousMonth
        self.previousRoot = previousRoot
        var first: (lsn: UInt64, timestamp: UInt64)?
        // The chain link is checked before any record is read: records of a
        // month whose predecessor is missing would not apply to the state.
        let linked = try SegmentReader.readHeader(storage: storage, path: path)
        if linked.previousMonth != previousMonth || linked.previousRoot != previousRoot {
            throw LedgerError(
                .corruption,
                "\(month) links to \(linked.previousMonth.map { "\($0)" } ?? "no month") but the latest earlier month on disk is \(previousMonth.map { "\($0)" } ?? "none") (a month is missing or was replaced); run `ledgerctl verify`",
                path: path, offset: 40)
        }
        let scan = try SegmentReader.scan(
            storage: storage, path: path, expectedDirectoryID: directoryID, recordHasher: rootHasher, rootSoFarAt: rootSoFarAt, mapped: true
        ) { record in
            if first == nil { first = (record.header.lsn, record.header.timestamp) }
            try visit(record)
        }
        if let first { (firstLSN, firstTimestamp) = first }
        seal = scan.seal
        scannedRootSoFar = scan.rootSoFar
        header = scan.header
        seed = scan.header.recordSeed
        if readOnly {
            file = try storage.openFileForReading(path)
            writable = nil
        } else {
            let opened = try storage.openFile(path, create: false)
            file = opened
            writable = opened
        }
        endOffset = scan.endOffset
        recordCount = scan.recordCount
        lastLSN = scan.lastLSN
        lastTimestamp = scan.lastTimestamp
        frontier = scan.frontier
        frontierSlot = scan.frontierSlot
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferBytes, alignment: 8)
        let fileBytes = try file.size()
        guard let writable else {
            if scan.tornTailOffset != nil || fileBytes > endOffset { tornTailNotTruncated = endOffset }
            return
        }
        if scan.tornTailOffset != nil || fileBytes > endOffset {
            try writable.truncate(toSize: endOffset)
            try writable.sync()
        }
        if seal != nil && frontier.durableEndOffset < endOffset { try writeFrontier() }  // sealed, then crashed before the frontier
    }

    deinit {
        buffer.deallocate()
        file.close()
    }

    /// Appends one applied event and returns the offset of its record. The
    /// caller routes events to the right month and in commit order: a
    /// violation is a programmer error.
    @discardableResult
    public func append(event: UnsafeRawBufferPointer, lsn: UInt64, timestamp: UInt64) throws -> Int {
        precondition(seal == nil, "append to sealed month \(header.month)")
        precondition(header.month.contains(timestamp), "timestamp \(timestamp) is not in \(header.month)")
        precondition(timestamp > lastTimestamp && lsn >= lastLSN, "segment append out of order")
        let recordBytes = SegmentFormat.recordHeaderBytes + event.count
        if buffered + recordBytes > buffer.count { try flush() }
        let offset = endOffset + buffered
        if recordCount == 0 { (firstLSN, firstTimestamp) = (lsn, timestamp) }
        SegmentRecordHeader.encode(
            event: event, lsn: lsn, timestamp: timestamp, seed: seed,
            into: UnsafeMutableRawBufferPointer(rebasing: buffer[buffered..<(buffered + recordBytes)]))
        buffered += recordBytes
        recordCount += 1
        lastLSN = lsn
        lastTimestamp = timestamp
        return offset
    }

    /// Writes buffered records to the file (no sync).
    public func flush() throws {
        guard buffered > 0 else { return }
        rootHasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]))
        try writableFile().write(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]), at: endOffset)
        endOffset += buffered
        buffered = 0
    }

    /// Makes every appended record durable, then records the new durable
    /// frontier (records → fdatasync → inactive frontier slot → fdatasync).
    /// A failure must stop the engine.
    public func sync() throws {
        try flush()
        guard endOffset > frontier.durableEndOffset else { return }
        try writableFile().sync()
        try writeFrontier()
    }

    private func writeFrontier() throws {
        let next = SegmentFrontier(generation: frontier.generation + 1, durableEndOffset: endOffset, lastLSN: lastLSN)
        let slot = 1 - frontierSlot
        try writableFile().write(next.encoded(seed: seed), at: SegmentFormat.frontierSlotOffsets[slot])
        try writableFile().sync()
        frontier = next
        frontierSlot = slot
    }

    /// Seals the month: appends the seal record built by `makeSeal` from the
    /// month root, then syncs (records and seal, then the frontier). The
    /// segment is immutable afterwards. A failure must stop the engine.
    public func seal(_ makeSeal: (_ monthRoot: [UInt8]) throws -> SegmentSeal) throws {
        precondition(seal == nil && recordCount > 0, "sealing \(header.month) twice or empty")
        try flush()
        let sealed = try makeSeal(rootHasher.finish())
        precondition(sealed.recordCount == UInt64(recordCount) && sealed.lastLSN == lastLSN, "seal does not describe the month")
        let bytes = sealed.encoded(seed: seed)
        try writableFile().write(bytes, at: endOffset)
        endOffset += bytes.count
        CrashPoints.reached("seal.recordWritten")
        try sync()
        CrashPoints.reached("seal.synced")
        seal = sealed
    }

    private func writableFile() -> any StorageFile {
        guard let writable else { preconditionFailure("write to \(path), opened read-only") }
        return writable
    }

    /// The month root's digest after every record appended so far (what a
    /// seal would carry now; the writer goes on hashing).
    public func rootSoFar() throws -> [UInt8] {
        try flush()
        return rootHasher.copy().finish()
    }

    /// Asks the kernel to start reading `[offset, offset + count)` (a hint
    /// for a query's records: the open month is mostly cached, but not after
    /// a restart or once its pages were evicted).
    public func adviseWillNeed(offset: Int, count: Int) { file.adviseWillNeed(offset: offset, count: count) }

    /// The event of the record at `offset` (written by this writer or found
    /// at open), checked against its CRC. For queries on the open month.
    public func readEvent(at offset: Int) throws -> (header: SegmentRecordHeader, event: [UInt8]) {
        try flush()
        return try SegmentReader.readRecord(file: file, at: offset, seed: seed, end: endOffset)
    }
}
