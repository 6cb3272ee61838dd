// Appends event records to one month's segment file. Records are buffered
// and written in large pwrites; `sync` makes everything appended durable.
// A segment is derived from the WAL, so the engine decides when syncing is
// needed (before it may drop WAL covered by the segment).
//
// Invariants: `endOffset` is where the next record goes and the file holds
// nothing after it; timestamps strictly increase and lie in `month`; LSNs
// never decrease.
public final class SegmentWriter {
    let storage: any Storage
    public let path: String
    public let header: SegmentFileHeader
    private let seed: UInt32
    private let file: any StorageFile
    private var buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    public private(set) var endOffset: Int
    public private(set) var recordCount: Int
    public private(set) var lastLSN: UInt64
    public private(set) var lastTimestamp: UInt64
    public private(set) var frontier: SegmentFrontier
    private var frontierSlot: Int

    static let bufferBytes = 1 << 20

    /// Opens the month's segment, creating it (and `segments/`) if needed;
    /// truncates a torn tail left by a crash.
    public init(storage: any Storage, layout: DataDirectoryLayout, month: UTCMonth, directoryID: [UInt8]) throws {
        self.storage = storage
        path = layout.segmentPath(month)
        if !storage.fileExists(layout.segmentsDirectory) {
            try storage.makeDirectory(layout.segmentsDirectory)
            try storage.syncDirectory(layout.root)
        }
        if !storage.fileExists(path) {
            let temporary = path + ".tmp"
            if storage.fileExists(temporary) { try storage.removeFile(temporary) }
            let created = try storage.openFile(temporary, create: true)
            try created.write(SegmentFileHeader(month: month, directoryID: directoryID).encoded(), at: 0)
            try created.sync()
            created.close()
            try storage.rename(temporary, to: path)
            try storage.syncDirectory(layout.segmentsDirectory)
        }
        let scan = try SegmentReader.scan(storage: storage, path: path, expectedDirectoryID: directoryID)
        header = scan.header
        seed = scan.header.recordSeed
        file = try storage.openFile(path, create: false)
        endOffset = scan.endOffset
        recordCount = scan.recordCount
        lastLSN = scan.lastLSN
        lastTimestamp = scan.lastTimestamp
        frontier = scan.frontier
        frontierSlot = scan.frontierSlot
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferBytes, alignment: 8)
        let fileBytes = try file.size()
        if scan.tornTailOffset != nil || fileBytes > endOffset {
            try file.truncate(toSize: endOffset)
            try file.sync()
        }
    }

    deinit {
        buffer.deallocate()
        file.close()
    }

    /// Appends one applied event. The caller routes events to the right month
    /// and in commit order: a violation is a programmer error.
    public func append(event: UnsafeRawBufferPointer, lsn: UInt64, timestamp: UInt64) throws {
        precondition(header.month.contains(timestamp), "timestamp \(timestamp) is not in \(header.month)")
        precondition(timestamp > lastTimestamp && lsn >= lastLSN, "segment append out of order")
        let recordBytes = SegmentFormat.recordHeaderBytes + event.count
        if buffered + recordBytes > buffer.count { try flush() }
        SegmentRecordHeader.encode(
            event: event, lsn: lsn, timestamp: timestamp, seed: seed,
            into: UnsafeMutableRawBufferPointer(rebasing: buffer[buffered..<(buffered + recordBytes)]))
        buffered += recordBytes
        recordCount += 1
        lastLSN = lsn
        lastTimestamp = timestamp
    }

    /// Writes buffered records to the file (no sync).
    public func flush() throws {
        guard buffered > 0 else { return }
        try file.write(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]), at: endOffset)
        endOffset += buffered
        buffered = 0
    }

    /// Makes every appended record durable, then records the new durable
    /// frontier (records → fdatasync → inactive frontier slot → fdatasync).
    /// A failure must stop the engine.
    public func sync() throws {
        try flush()
        guard endOffset > frontier.durableEndOffset else { return }
        try file.sync()
        let next = SegmentFrontier(generation: frontier.generation + 1, durableEndOffset: endOffset, lastLSN: lastLSN)
        let slot = 1 - frontierSlot
        try file.write(next.encoded(seed: seed), at: SegmentFormat.frontierSlotOffsets[slot])
        try file.sync()
        frontier = next
        frontierSlot = slot
    }
}
