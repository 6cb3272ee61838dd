// Opening a data directory only to read it (queries, `verify`, `digest`,
// `inspect`): nothing is created, renamed, truncated or written, so the
// directory is byte-identical afterwards and a read-only mount (a mounted
// backup, a standby's files) can be read.
//
// Order: the directory and its `ledger.meta` are checked before the shared
// lock is taken, so a directory that is no ledger never gets a LOCK file.

public final class ReadOnlyDirectory {
    public let layout: DataDirectoryLayout
    public let meta: DataDirectoryMeta
    private let lock: any StorageLock

    public init(at path: String, storage: any Storage) throws {
        let layout = DataDirectoryLayout(root: path)
        guard storage.fileExists(layout.root) else {
            throw LedgerError(.notInitialized, "data directory does not exist; `ledgerctl init` creates one", path: layout.root)
        }
        guard storage.fileExists(layout.metaPath) else { throw try DataDirectoryMeta.missingError(storage: storage, layout: layout) }
        lock = try storage.lockFileShared(layout.lockPath)
        do {
            meta = try DataDirectoryMeta.read(storage: storage, layout: layout)
        } catch {
            lock.release()
            throw error
        }
        self.layout = layout
    }

    public func close() { lock.release() }

    deinit { lock.release() }
}
