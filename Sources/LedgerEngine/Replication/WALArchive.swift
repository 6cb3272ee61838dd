// Continuous archiving (`--archive-wal-to DIR`, Specs/replication.md): a
// completed WAL file is copied into the archive before compaction may
// delete it. The copy is written as `<name>.tmp`, fdatasync'd, renamed and
// the directory fsync'd; a file already archived with the same bytes is
// left alone, and one with other bytes under the same name is never
// overwritten (an error: the archive belongs to someone else's history).
// A failure holds compaction back at that file (Ledger+Snapshots.swift).

public struct WALArchive: Sendable {
    let storage: any Storage
    public let directory: String
    static let chunkBytes = 1 << 20

    public init(storage: any Storage, directory: String) {
        self.storage = storage
        self.directory = DataDirectoryLayout(root: directory).root
    }

    /// Copies the WAL file at `path` (named `name`) into the archive unless
    /// an identical copy is there.
    public func archive(_ path: String, name: String) throws {
        if !storage.fileExists(directory) { try storage.makeDirectory(directory) }
        let target = directory + "/" + name
        let source = try storage.openFileForReading(path)
        defer { source.close() }
        let bytes = try source.size()
        if storage.fileExists(target) {
            guard try sameBytes(source, bytes, target) else {
                throw LedgerError(.corruption, "the WAL archive holds a different \(name); it is never overwritten", path: target)
            }
            return
        }
        let temporary = DataDirectoryLayout.temporaryPath(for: target)
        if storage.fileExists(temporary) { try storage.removeFile(temporary) }  // a copy of ours that a crash interrupted
        let copy = try storage.openFile(temporary, create: true)
        defer { copy.close() }
        var offset = 0
        while offset < bytes {
            let count = min(Self.chunkBytes, bytes - offset)
            try copy.write(try source.readExactly(count, at: offset), at: offset)
            offset += count
        }
        try copy.sync()
        try storage.rename(temporary, to: target)
        try storage.syncDirectory(directory)
    }

    private func sameBytes(_ source: any ReadableFile, _ bytes: Int, _ target: String) throws -> Bool {
        let archived = try storage.openFileForReading(target)
        defer { archived.close() }
        guard try archived.size() == bytes else { return false }
        var offset = 0
        while offset < bytes {
            let count = min(Self.chunkBytes, bytes - offset)
            guard try archived.readExactly(count, at: offset) == source.readExactly(count, at: offset) else { return false }
            offset += count
        }
        return true
    }
}
