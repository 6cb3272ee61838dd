// A base backup of a running primary (Specs/replication.md, "Base
// backup"): which files, and how many bytes of each, make a consistent
// image, while commits go on.
//
// The image is: `ledger.meta`; a snapshot taken for the backup; every month
// file (sealed segments, their indexes and archives whole; an open segment
// up to its durable frontier, with the header page read once so the
// frontier and the bytes agree); and the WAL from the file holding the
// snapshot's LSN to the durable end. Everything is opened between groups
// (no group in flight: the WAL's end is durable and the segments are not
// being written), and read afterwards through those handles: a file that
// compaction or pruning unlinks meanwhile stays readable, and bytes below a
// durable end are never rewritten. The balance index is left out: it is
// derived, and the backup rebuilds it when it first opens.

public struct BaseBackupFile {
    /// The path relative to the data directory (`segments/2026-11.seg`).
    public var name: String
    public var handle: any ReadableFile
    /// Bytes to copy from offset 0; the file is then extended with zeros to
    /// `totalBytes` (a WAL file keeps its preallocated size).
    public var copyBytes: Int
    public var totalBytes: Int
    /// The first bytes as read when the manifest was made (a segment's
    /// header page, whose frontier slots are rewritten while it is open).
    public var prefix: [UInt8]
}

public struct BaseBackupManifest {
    public var files: [BaseBackupFile]
    public var snapshotLSN: UInt64
    /// The last LSN of the WAL in the image: a standby started from it
    /// streams from the next one.
    public var lastLSN: UInt64

    public var totalBytes: Int { files.reduce(0) { $0 + $1.copyBytes } }

    public func close() { for file in files { file.handle.close() } }
}

extension Ledger {
    /// Takes a snapshot and lists the image (see the header). The caller
    /// reads the files through the handles, then calls `close()`.
    public func baseBackupManifest() throws -> BaseBackupManifest {
        guard !isStandby else { throw LedgerError(.notPrimary, "a base backup is taken from a primary") }
        let snapshot = try self.snapshot()
        return try exclusively { try self.listImage(snapshotLSN: snapshot.lsn, snapshotPath: snapshot.path) }
    }

    private func listImage(snapshotLSN: UInt64, snapshotPath: String) throws -> BaseBackupManifest {
        var files: [BaseBackupFile] = []
        // Every sealed month with its index (written off the filing thread).
        try segments.awaitIndexWrites()
        do {
            try files.append(whole(layout.metaPath, name: "ledger.meta"))
            // Rewritten only on the apply thread, which this runs on.
            if storage.fileExists(layout.timelineHistoryPath) { try files.append(whole(layout.timelineHistoryPath, name: "timeline-history")) }
            try files.append(whole(snapshotPath, name: "snapshots/" + snapshotPath.split(separator: "/").last!))
            // A ledger that has filed nothing yet has no segments directory.
            let months = storage.fileExists(layout.segmentsDirectory) ? try storage.listDirectory(layout.segmentsDirectory) : []
            // Account copies (large) and saved open-month indexes are derived: a standby builds its own.
            for name in months.sorted() where !DataDirectoryLayout.isTemporary(name) && !DataDirectoryLayout.isLeftOutOfCopies(name) {
                let path = layout.segmentsDirectory + "/" + name
                if DataDirectoryLayout.month(ofSegmentFileName: name) != nil {
                    try files.append(segmentPrefix(path, name: "segments/" + name))
                } else {
                    try files.append(whole(path, name: "segments/" + name))
                }
            }
            let walFiles = try WALReader(storage: storage, layout: layout).walFiles()
            for (i, file) in walFiles.enumerated() {
                let isLast = i == walFiles.count - 1
                // Files whose records all precede the snapshot are not needed.
                if !isLast && walFiles[i + 1].firstLSN - 1 <= snapshotLSN { continue }
                let handle = try storage.openFileForReading(file.path)
                let size = try handle.size()
                let name = String(file.path.split(separator: "/").last!)
                files.append(BaseBackupFile(name: name, handle: handle, copyBytes: isLast ? wal.offset : size, totalBytes: size, prefix: []))
            }
        } catch {
            for file in files { file.handle.close() }
            throw error
        }
        return BaseBackupManifest(files: files, snapshotLSN: snapshotLSN, lastLSN: wal.nextLSN - 1)
    }

    private func whole(_ path: String, name: String) throws -> BaseBackupFile {
        let handle = try storage.openFileForReading(path)
        let size = try handle.size()
        return BaseBackupFile(name: name, handle: handle, copyBytes: size, totalBytes: size, prefix: [])
    }

    /// A segment up to the durable frontier its header page records.
    private func segmentPrefix(_ path: String, name: String) throws -> BaseBackupFile {
        let handle = try storage.openFileForReading(path)
        let headerPage = try handle.readExactly(SegmentFormat.fileHeaderBytes, at: 0)
        let header = try SegmentFileHeader.decode(Array(headerPage[0..<SegmentFormat.fileHeaderUsedBytes]), path: path)
        let frontier = try headerPage.withUnsafeBytes { try SegmentFrontier.read(headerPage: $0, seed: header.recordSeed, path: path) }.frontier
        return BaseBackupFile(name: name, handle: handle, copyBytes: frontier.durableEndOffset, totalBytes: frontier.durableEndOffset, prefix: headerPage)
    }
}
