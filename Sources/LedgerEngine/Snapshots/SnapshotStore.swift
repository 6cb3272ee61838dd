// Writing, listing, loading and pruning snapshot files in `snapshots/`.

public enum SnapshotStore {
    /// Snapshots on disk, oldest first.
    public static func list(storage: any Storage, layout: DataDirectoryLayout) throws -> [(lsn: UInt64, path: String)] {
        guard storage.fileExists(layout.snapshotsDirectory) else { return [] }
        return try storage.listDirectory(layout.snapshotsDirectory).compactMap { name in
            DataDirectoryLayout.lsn(ofSnapshotFileName: name).map { ($0, layout.snapshotsDirectory + "/" + name) }
        }.sorted { $0.lsn < $1.lsn }
    }

    /// Writes the snapshot of `machine` at `lsn` atomically: temporary file,
    /// fdatasync, rename, fsync of the directory. A failure of either sync
    /// must stop the caller (it does not retry). Returns the file and its size.
    /// `filter`: the engine's filter of evicted ids, holding at least every
    /// id `machine` evicted (nil: none stored; recovery rebuilds it).
    @discardableResult
    static func write(
        _ machine: LedgerStateMachine, filter: EvictedIDFilter?, lsn: UInt64, chainHead: [UInt8], directoryID: [UInt8], storage: any Storage,
        layout: DataDirectoryLayout
    ) throws -> (path: String, bytes: Int) {
        if !storage.fileExists(layout.snapshotsDirectory) {
            try storage.makeDirectory(layout.snapshotsDirectory)
            try storage.syncDirectory(layout.root)
        }
        let path = layout.snapshotPath(lsn: lsn)
        let temporary = DataDirectoryLayout.temporaryPath(for: path)
        if storage.fileExists(temporary) { try storage.removeFile(temporary) }
        // In the pruned snapshot kept for it when there is one (`prune`):
        // its pages are in the page cache, where a new file takes fresh
        // ones (as WAL files are reused: Specs/wal-format.md). Its old bytes
        // past the new end are cut off before the sync.
        let reusing = storage.fileExists(layout.snapshotSparePath)
        if reusing { try storage.rename(layout.snapshotSparePath, to: temporary) }
        let file = try storage.openFile(temporary, create: !reusing)
        defer { file.close() }
        let writer = SnapshotStreamWriter(file: file, at: SnapshotFormat.headerBytes)
        let counts = try machine.writeSnapshotBody(writer, lsn: lsn)
        if let filter { try writeFilter(filter, writer) }
        try writer.flush()
        let header = SnapshotHeader(
            lsn: lsn, lastTimestamp: machine.lastTimestamp, directoryID: directoryID, accountCount: machine.accountCount,
            entryCount: counts.entries, holdCount: counts.holds, holdPostingCount: counts.holdPostings,
            bodyBytes: writer.offset - SnapshotFormat.headerBytes, chainHead: chainHead, bodySHA256: writer.hasher.finish(),
            residentSinceNs: machine.residentSinceNs, lastAppliedTimestamp: machine.lastAppliedTimestamp, filterSeed: filter?.seed ?? 0,
            filterCapacity: filter?.capacity ?? 0, filterIDCount: filter?.count ?? 0, filterBlockCount: filter?.blockCount ?? 0)
        precondition(header.bodyBytes == header.describedBodyBytes, "snapshot body size")
        try file.write(header.encoded(), at: 0)
        if reusing, try file.size() > writer.offset { try file.truncate(toSize: writer.offset) }
        CrashPoints.reached("snapshot.written")
        try file.sync()
        try storage.rename(temporary, to: path)
        CrashPoints.reached("snapshot.renamed")
        try storage.syncDirectory(layout.snapshotsDirectory)
        return (path, writer.offset)
    }

    /// Loads and fully checks one snapshot (header CRC, body SHA-256, every
    /// structural rule). Throws `corruption` naming the file.
    /// The header alone (checked by its CRC), without the body.
    public static func header(path: String, storage: any Storage) throws -> SnapshotHeader {
        let file = try storage.openFileForReading(path)
        defer { file.close() }
        guard try file.size() >= SnapshotFormat.headerBytes else {
            throw LedgerError(.corruption, "snapshot is shorter than its header", path: path, offset: 0)
        }
        return try SnapshotHeader.decode(try file.readExactly(SnapshotFormat.headerBytes, at: 0), path: path)
    }

    /// `filter`: the stored filter of evicted ids, nil when none is stored.
    static func load(path: String, storage: any Storage, directoryID: [UInt8]) throws -> (
        header: SnapshotHeader, machine: LedgerStateMachine, filter: EvictedIDFilter?
    ) {
        let file = try storage.openFileForReading(path)
        defer { file.close() }
        let size = try file.size()
        guard size >= SnapshotFormat.headerBytes else {
            throw LedgerError(.corruption, "snapshot is \(size) bytes, shorter than its header", path: path, offset: size)
        }
        let header = try SnapshotHeader.decode(try file.readExactly(SnapshotFormat.headerBytes, at: 0), path: path)
        guard header.directoryID == directoryID else { throw LedgerError(.corruption, "snapshot belongs to another data directory", path: path, offset: 32) }
        guard size == SnapshotFormat.headerBytes + header.bodyBytes else {
            throw LedgerError(
                .corruption, "snapshot is \(size) bytes; its header says \(SnapshotFormat.headerBytes + header.bodyBytes)", path: path,
                offset: min(size, SnapshotFormat.headerBytes + header.bodyBytes))
        }
        guard let fileLSN = path.split(separator: "/").last.flatMap({ DataDirectoryLayout.lsn(ofSnapshotFileName: String($0)) }), fileLSN == header.lsn else {
            throw LedgerError(.corruption, "snapshot name and header LSN \(header.lsn) disagree", path: path, offset: 16)
        }
        let reader = SnapshotStreamReader(file: file, from: SnapshotFormat.headerBytes, end: size)
        let machine = try LedgerStateMachine(snapshot: reader, header: header)
        let filter = try readFilter(reader, header: header)
        guard reader.offset == size, reader.position == reader.buffer.count else {
            throw LedgerError(.corruption, "snapshot body has bytes its counts do not describe", path: path, offset: reader.offset)
        }
        guard reader.hasher.finish() == header.bodySHA256 else {
            throw LedgerError(.corruption, "snapshot body does not match its SHA-256", path: path, offset: SnapshotFormat.headerBytes)
        }
        return (header, machine, filter)
    }

    /// Body chunk for the filter's words (whole blocks).
    private static let filterChunkWords = 8 * 1024

    private static func writeFilter(_ filter: EvictedIDFilter, _ writer: SnapshotStreamWriter) throws {
        try filter.words.withUnsafeBufferPointer { words in
            var start = 0
            while start < words.count {
                let n = min(filterChunkWords, words.count - start)
                try writer.append(
                    { p in
                        for i in 0..<n { p.storeBytes(of: words[start + i].littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
                    }, bytes: 8 * n)
                start += n
            }
        }
    }

    private static func readFilter(_ reader: SnapshotStreamReader, header: SnapshotHeader) throws -> EvictedIDFilter? {
        guard header.filterBlockCount > 0 else { return nil }
        let wordCount = 8 * header.filterBlockCount
        var words = [UInt64](repeating: 0, count: wordCount)
        try words.withUnsafeMutableBufferPointer { w in
            var start = 0
            while start < wordCount {
                let n = min(filterChunkWords, wordCount - start)
                try reader.next(8 * n) { p in
                    for i in 0..<n { w[start + i] = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
                }
                start += n
            }
        }
        guard let filter = EvictedIDFilter(seed: header.filterSeed, capacity: header.filterCapacity, count: header.filterIDCount, words: words) else {
            throw LedgerError(.corruption, "snapshot's filter of evicted ids has inconsistent sizes", path: reader.file.path, offset: 168)
        }
        return filter
    }

    /// The newest snapshot that loads, trying older ones when it does not;
    /// `log` gets one line per snapshot skipped and why.
    static func loadNewest(storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], log: (String) -> Void) throws -> (
        SnapshotHeader, LedgerStateMachine, EvictedIDFilter?, String
    )? {
        for (_, path) in try list(storage: storage, layout: layout).reversed() {
            do {
                let (header, machine, filter) = try load(path: path, storage: storage, directoryID: directoryID)
                return (header, machine, filter, path)
            } catch let error as LedgerError where error.code == .corruption || error.code == .unsupportedVersion {
                log("snapshot: \(path) is unusable (\(error.message)); falling back to the previous snapshot")
            }
        }
        return nil
    }

    /// Deletes all but the newest `SnapshotFormat.retained` snapshots; the
    /// newest of those pruned is kept as `snapshot-spare.tmp` for the next
    /// `write` (when `keepingSpare` and none is kept yet).
    static func prune(storage: any Storage, layout: DataDirectoryLayout, keepingSpare: Bool = false) throws {
        let all = try list(storage: storage, layout: layout)
        guard all.count > SnapshotFormat.retained else { return }
        let pruned = all.dropLast(SnapshotFormat.retained)
        for (i, (_, path)) in pruned.enumerated() {
            if keepingSpare && i == pruned.count - 1 && !storage.fileExists(layout.snapshotSparePath) {
                try storage.rename(path, to: layout.snapshotSparePath)
            } else {
                try storage.removeFile(path)
            }
            CrashPoints.reached("snapshot.pruned")
        }
        try storage.syncDirectory(layout.snapshotsDirectory)
    }

    /// Deletes the kept snapshot (at close: a closed directory holds none).
    static func removeSpare(storage: any Storage, layout: DataDirectoryLayout) throws {
        guard storage.fileExists(layout.snapshotSparePath) else { return }
        try storage.removeFile(layout.snapshotSparePath)
        try storage.syncDirectory(layout.snapshotsDirectory)
    }
}
