// Appends records to the WAL. Used only by the engine's writer thread.
//
// Invariants:
// - `offset` is 8-aligned and everything in the current file at or after it is
//   zero (fresh files are zero-filled; a torn tail is zeroed at open).
// - A record never spans files; when it does not fit, the writer rolls to a
//   file prepared ahead of time (zeros, header, fdatasync, rename, fsync dir).
// - After any write or sync error the writer is poisoned: the engine stops.
#if canImport(Glibc)
    import Glibc
#endif

public final class WALWriter {
    let storage: any Storage
    let layout: DataDirectoryLayout
    public let fileBytes: Int
    // Internal, not private: a standby's writer also mirrors a primary's
    // records (Replication/WALMirror.swift).
    var file: any StorageFile
    var header: WALFileHeader
    var epochSeed: UInt32
    public internal(set) var offset: Int
    public internal(set) var nextLSN: UInt64
    public internal(set) var previousCRC: UInt32
    let preparer: WALFilePreparer

    /// Payload of the next record: the engine encodes into it directly.
    public let payloadBuffer: UnsafeMutableRawBufferPointer
    private let recordBuffer: UnsafeMutableRawBufferPointer

    /// Opens the writer at the end found by `WALReader.scan(mode: .recover)`,
    /// zeroing a torn tail first.
    public init(storage: any Storage, layout: DataDirectoryLayout, scan: WALScanResult) throws {
        guard let header = scan.lastFileHeader else {
            throw LedgerError(.corruption, "WAL has no usable last file", path: layout.root)
        }
        self.storage = storage
        self.layout = layout
        self.header = header
        self.fileBytes = Int(header.fileBytes)
        self.epochSeed = header.epochSeed
        self.file = try storage.openFile(scan.lastFilePath, create: false)
        self.offset = scan.appendOffset
        self.nextLSN = scan.lastLSN + 1
        self.previousCRC = scan.lastCRC
        self.preparer = WALFilePreparer(storage: storage, layout: layout, fileBytes: Int(header.fileBytes))
        let capacity = WALFormat.recordBytes(payloadBytes: WALFormat.recordPayloadBytesMax)
        // Zeroed pages the kernel provides on first touch, instead of
        // writing 16 MiB of zeros at every open (page-aligned).
        recordBuffer = AnonymousMemory.allocate(bytes: capacity)
        payloadBuffer = UnsafeMutableRawBufferPointer(rebasing: recordBuffer[WALFormat.recordHeaderBytes...])
        if let torn = scan.tornTailOffset {
            // Never acknowledged: zero it so the invariant above holds again.
            try file.writeZeros(at: torn, count: fileBytes - torn)
            try file.sync()
        }
    }

    deinit {
        AnonymousMemory.release(recordBuffer)
        file.close()
    }

    /// Creates the first WAL file of a new data directory.
    public static func createFirstFile(storage: any Storage, layout: DataDirectoryLayout, fileBytes: Int) throws {
        precondition(fileBytes >= Limits.walFileBytesMin && fileBytes % 4096 == 0, "WAL file bytes \(fileBytes)")
        try WALFilePreparer.prepare(storage: storage, path: layout.walNextTemporaryPath, fileBytes: fileBytes)
        try install(storage: storage, layout: layout, fileBytes: fileBytes, firstLSN: 1, chainSeed: 0)
    }

    /// Gives the prepared temporary file its header and final name.
    @discardableResult
    static func install(storage: any Storage, layout: DataDirectoryLayout, fileBytes: Int, firstLSN: UInt64, chainSeed: UInt32) throws -> (
        any StorageFile, WALFileHeader
    ) {
        var epoch = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<16 { epoch[i] = UInt8.random(in: 0...255, using: &rng) }
        let header = WALFileHeader(fileBytes: UInt64(fileBytes), firstLSN: firstLSN, epoch: epoch, chainSeed: chainSeed)
        return try install(storage: storage, layout: layout, header: header)
    }

    /// Gives the prepared temporary file `header` (a new one, or a
    /// primary's, which a standby mirrors) and its final name; then syncs
    /// the file and the directory.
    static func install(storage: any Storage, layout: DataDirectoryLayout, header: WALFileHeader) throws -> (any StorageFile, WALFileHeader) {
        let firstLSN = header.firstLSN
        let temporary = try storage.openFile(layout.walNextTemporaryPath, create: false)
        try temporary.write(header.encoded(), at: 0)
        try temporary.sync()
        let path = layout.walPath(firstLSN: firstLSN)
        try storage.rename(layout.walNextTemporaryPath, to: path)
        try storage.syncDirectory(layout.root)
        return (temporary, header)
    }

    /// Seals and writes a record whose payload the caller put in
    /// `payloadBuffer[0..<payloadBytes]`. Does not sync. Returns its LSN.
    public func append(type: UInt8, payloadBytes: Int) throws -> UInt64 {
        try append(type: type, record: recordBuffer, payloadBytes: payloadBytes)
    }

    /// Seals and writes a record built in `record`: 32 bytes of header space,
    /// then `payloadBytes` of payload, with room for the alignment padding.
    /// Does not sync. Returns its LSN.
    public func append(type: UInt8, record: UnsafeMutableRawBufferPointer, payloadBytes: Int) throws -> UInt64 {
        precondition(payloadBytes <= WALFormat.recordPayloadBytesMax, "payload \(payloadBytes)")
        let recordBytes = WALFormat.recordBytes(payloadBytes: payloadBytes)
        precondition(recordBytes <= record.count, "record buffer of \(record.count) bytes for a \(recordBytes)-byte record")
        precondition(WALFormat.fileHeaderBytes + recordBytes <= fileBytes, "record of \(recordBytes) bytes cannot fit a \(fileBytes)-byte WAL file")
        if offset + recordBytes > fileBytes { try roll() }
        // Prepare the next file in the background once this one is a quarter
        // full, so short-lived processes do not write 64 MiB of zeros.
        if offset >= fileBytes / 4 { preparer.startIfIdle() }
        // Zero the alignment padding (buffers are reused).
        let used = WALFormat.recordHeaderBytes + payloadBytes
        if recordBytes > used {
            UnsafeMutableRawBufferPointer(rebasing: record[used..<recordBytes]).initializeMemory(as: UInt8.self, repeating: 0)
        }
        let lsn = nextLSN
        let crc = WALRecordHeader.seal(
            UnsafeMutableRawBufferPointer(rebasing: record[0..<recordBytes]), payloadBytes: payloadBytes,
            type: type, lsn: lsn, previousCRC: previousCRC, epochSeed: epochSeed)
        try file.write(UnsafeRawBufferPointer(rebasing: record[0..<recordBytes]), at: offset)
        offset += recordBytes
        nextLSN += 1
        previousCRC = crc
        return lsn
    }

    /// fdatasync of the current file. A failure must stop the engine.
    public func sync() throws {
        try file.sync()
    }

    private func roll() throws {
        preparer.startIfIdle()
        try preparer.waitUntilReady()
        let (newFile, newHeader) = try Self.install(storage: storage, layout: layout, fileBytes: fileBytes, firstLSN: nextLSN, chainSeed: previousCRC)
        file.close()
        file = newFile
        header = newHeader
        epochSeed = newHeader.epochSeed
        offset = WALFormat.fileHeaderBytes
    }

    /// Waits for a background preparation to finish (at close: a later open
    /// in this process must not race with it over `wal-next.tmp`).
    public func finishPreparing() throws {
        preparer.waitUntilIdle()
    }
}

/// Prepares the next WAL file (zeros, fdatasync) on a background thread so a
/// roll costs a header write, a rename and two syncs, not 64 MiB of zeros.
///
/// Files compaction no longer needs are kept (`retire`, at most
/// `Limits.walSpareFilesMax`) and prepared again instead of new ones: the
/// zeros then go into pages the page cache already holds. Writing into a
/// new file takes fresh pages from the kernel, which on the benchmark VM
/// cost ~15 µs each (~4 s of CPU a GiB); the new file's 64 MiB of zeros
/// were ~15% of the server's CPU at batch 8,189 (Benchmarks/RESULTS.md,
/// session 17). The bytes a prepared file holds are the same either way
/// (zeros, then a header with a new epoch), so the format does not change.
final class WALFilePreparer: @unchecked Sendable {
    private let storage: any Storage
    private let layout: DataDirectoryLayout
    private let fileBytes: Int
    private let condition = ConditionLock()
    // Guarded by `condition`.
    private var running = false
    private var ready = false
    private var failure: LedgerError?
    /// Kept files by path, oldest first, and the next spare number.
    private var spares: [String] = []
    private var sparesNamed = 0
    private var reused = 0

    init(storage: any Storage, layout: DataDirectoryLayout, fileBytes: Int) {
        self.storage = storage
        self.layout = layout
        self.fileBytes = fileBytes
    }

    static func prepare(storage: any Storage, path: String, fileBytes: Int, reusing spare: String? = nil) throws {
        if storage.fileExists(path) { try storage.removeFile(path) }
        if let spare { try storage.rename(spare, to: path) }
        let file = try storage.openFile(path, create: spare == nil)
        defer { file.close() }
        try file.writeZeros(at: 0, count: fileBytes)
        try file.sync()
    }

    /// Instead of deleting a WAL file compaction no longer needs: keeps it
    /// for a later preparation when fewer than `Limits.walSpareFilesMax` are
    /// kept and it has this writer's size, else deletes it. The caller
    /// fsyncs the directory afterwards, as after a deletion.
    func retire(_ path: String) throws {
        let size = try { () throws -> Int in
            let file = try storage.openFile(path, create: false)
            defer { file.close() }
            return try file.size()
        }()
        let spare: String? = condition.withLock {
            guard size == fileBytes, spares.count < Limits.walSpareFilesMax else { return nil }
            sparesNamed += 1
            return layout.walSparePath(sparesNamed)
        }
        guard let spare else { return try storage.removeFile(path) }
        try storage.rename(path, to: spare)
        condition.withLock { spares.append(spare) }
    }

    /// Files prepared in a kept file so far.
    var filesReused: Int { condition.withLock { reused } }

    /// Deletes the kept files (at close: a closed directory holds none),
    /// then fsyncs the directory if there were any.
    func removeSpares() throws {
        let paths: [String] = condition.withLock {
            defer { spares.removeAll() }
            return spares
        }
        for path in paths { try storage.removeFile(path) }
        if !paths.isEmpty { try storage.syncDirectory(layout.root) }
    }

    func startIfIdle() {
        let begin: Bool = condition.withLock {
            if running || ready { return false }
            running = true
            failure = nil
            return true
        }
        guard begin else { return }
        let spare: String? = condition.withLock {
            guard !spares.isEmpty else { return nil }
            reused += 1
            return spares.removeFirst()
        }
        let thread = Thread { [self] in
            var error: LedgerError?
            do {
                try Self.prepare(storage: storage, path: layout.walNextTemporaryPath, fileBytes: fileBytes, reusing: spare)
            } catch let e as LedgerError {
                error = e
            } catch {
                preconditionFailure("storage threw a non-LedgerError: \(error)")
            }
            condition.withLock {
                running = false
                ready = error == nil
                failure = error
                condition.broadcast()
            }
        }
        thread.startDetached()  // its end is signalled through `condition`; nobody joins it
    }

    func waitUntilReady() throws {
        try condition.withLock {
            while running { condition.wait() }
            if let failure { throw failure }
            precondition(ready, "roll without a prepared file")
            ready = false
        }
    }

    func waitUntilIdle() {
        condition.withLock {
            while running { condition.wait() }
        }
    }
}
