// The receiving side of a base backup (`ledgerctl basebackup`): writes the
// image a primary streams into a new directory, and makes it a standby.
//
// Nothing that exists is touched: the target must not exist, and the image
// is written into `<target>.partial` (which must not exist either: a
// leftover of a failed run is the operator's to look at and delete). Each
// file arrives whole and in order (no gap, no overlap, no byte past its
// announced size); a file is extended with zeros to its total size and
// fdatasync'd before the next begins. At the end: `standby.signal`, fsync
// of every directory, rename to the target, fsync of the parent. A crash
// or a refused stream leaves only `<target>.partial`.

public final class BaseBackupWriter {
    let storage: any Storage
    public let target: String
    let partial: String
    private var current: (file: any StorageFile, name: String, written: Int, copyBytes: Int, totalBytes: Int)?
    private var names: Set<String> = []
    public private(set) var bytesWritten = 0

    public init(storage: any Storage = POSIXStorage(), target: String) throws {
        self.storage = storage
        self.target = DataDirectoryLayout(root: target).root
        self.partial = self.target + ".partial"
        guard !storage.fileExists(self.target) else {
            throw LedgerError(.alreadyInitialized, "the base backup's target exists; choose a new directory", path: self.target)
        }
        guard !storage.fileExists(partial) else {
            throw LedgerError(
                .alreadyInitialized, "a previous base backup left this partial directory; inspect and delete it, then run again", path: partial)
        }
        try storage.makeDirectory(partial)
        try storage.makeDirectory(partial + "/segments")
        try storage.makeDirectory(partial + "/snapshots")
    }

    /// A new file of the image (the previous one must be complete).
    public func startFile(name: String, copyBytes: Int, totalBytes: Int) throws {
        try finishCurrent()
        guard !names.contains(name), copyBytes <= totalBytes, Self.isExpectedName(name) else {
            throw LedgerError(.corruption, "base backup stream: unexpected file '\(name)' (\(copyBytes) of \(totalBytes) bytes)")
        }
        names.insert(name)
        let file = try storage.openFile(partial + "/" + name, create: true)
        current = (file, name, 0, copyBytes, totalBytes)
    }

    /// Bytes of the current file, in order.
    public func write(offset: Int, bytes: [UInt8]) throws {
        guard let file = current, offset == file.written, offset + bytes.count <= file.copyBytes else {
            throw LedgerError(.corruption, "base backup stream: \(bytes.count) bytes at offset \(offset) of '\(current?.name ?? "no file")' out of order")
        }
        try file.file.write(bytes, at: offset)
        current!.written += bytes.count
        bytesWritten += bytes.count
    }

    /// The image is complete: the standby marker, syncs, the rename.
    public func finish(primary: String) throws {
        try finishCurrent()
        guard names.contains("ledger.meta"), names.contains(where: { $0.hasPrefix("snapshots/") }),
            names.contains(where: { DataDirectoryLayout.firstLSN(ofWALFileName: $0) != nil })
        else { throw LedgerError(.corruption, "base backup stream ended without the meta file, a snapshot and a WAL file") }
        let layout = DataDirectoryLayout(root: partial)
        let signal = try storage.openFile(layout.standbySignalPath, create: true)
        try signal.write(Array("primary=\(primary)\n".utf8), at: 0)
        try signal.sync()
        signal.close()
        try storage.syncDirectory(partial + "/segments")
        try storage.syncDirectory(partial + "/snapshots")
        try storage.syncDirectory(partial)
        try storage.rename(partial, to: target)
        try storage.syncDirectory(Self.parent(of: target))
    }

    private func finishCurrent() throws {
        guard let file = current else { return }
        guard file.written == file.copyBytes else {
            throw LedgerError(.corruption, "base backup stream: '\(file.name)' ended after \(file.written) of \(file.copyBytes) bytes")
        }
        if file.totalBytes > file.copyBytes { try file.file.writeZeros(at: file.copyBytes, count: file.totalBytes - file.copyBytes) }
        try file.file.sync()
        file.file.close()
        current = nil
    }

    /// The names an image holds (ReplicationMessage.isValidBackupName has
    /// already kept them inside the directory).
    static func isExpectedName(_ name: String) -> Bool {
        if name == "ledger.meta" || name == "timeline-history" || DataDirectoryLayout.firstLSN(ofWALFileName: name) != nil { return true }
        if name.hasPrefix("snapshots/") { return DataDirectoryLayout.lsn(ofSnapshotFileName: String(name.dropFirst(10))) != nil }
        guard name.hasPrefix("segments/") else { return false }
        let file = String(name.dropFirst(9))
        return DataDirectoryLayout.month(ofSegmentFileName: file) != nil || DataDirectoryLayout.month(ofArchiveFileName: file) != nil
            || (file.hasSuffix(".idx") && DataDirectoryLayout.month(ofSegmentFileName: file.dropLast(4) + ".seg") != nil)
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
