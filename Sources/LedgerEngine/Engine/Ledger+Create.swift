// Creating a data directory (`ledgerctl init`, `LedgerServer --create-dev-key`).

extension Ledger {
    /// Creates a new data directory at `path`. Refuses (`alreadyInitialized`,
    /// nothing written) when the directory holds anything a ledger writes:
    /// every check passes before the first byte is written, so `init` over a
    /// directory whose `ledger.meta` was lost can never empty its WAL.
    ///
    /// Crash-safe order: WAL file, index, then `ledger.meta` by tmp + fsync +
    /// rename + fsync dir. A crash before the rename leaves ledger files
    /// without `ledger.meta`, which open and `init` both refuse, naming them.
    public static func initialize(at path: String, storage: any Storage = POSIXStorage(), options: Options = Options()) throws {
        let layout = DataDirectoryLayout(root: path)
        guard options.walFileBytes >= Limits.walFileBytesMin, options.walFileBytes <= Limits.walFileBytesMax, options.walFileBytes % 4096 == 0 else {
            throw LedgerError(
                .invalidInput, "WAL file size \(options.walFileBytes) must be a multiple of 4096 from \(Limits.walFileBytesMin) to \(Limits.walFileBytesMax)")
        }
        guard DataDirectoryMeta.residentWindowMonthsAllowed.contains(options.residentWindowMonths) else {
            throw LedgerError(.invalidInput, "resident window of \(options.residentWindowMonths) months: 1 or 2")
        }
        try refuseIfLedgerFilesExist(storage: storage, layout: layout)
        if !storage.fileExists(layout.root) {
            try storage.makeDirectory(layout.root)
        }
        let lock = try storage.lockFile(layout.lockPath)
        defer { lock.release() }
        // Again under the lock: another process may have begun meanwhile.
        try refuseIfLedgerFilesExist(storage: storage, layout: layout)
        var id = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<16 { id[i] = UInt8.random(in: 0...255, using: &rng) }
        let meta = DataDirectoryMeta(walFileBytes: options.walFileBytes, directoryID: id, residentWindowMonths: options.residentWindowMonths)
        try WALWriter.createFirstFile(storage: storage, layout: layout, fileBytes: options.walFileBytes)
        _ = try BalanceIndex.create(storage: storage, layout: layout, directoryID: id, slotCapacity: BalanceIndexFormat.initialSlotCapacity)
        let temporary = try storage.openFile(layout.metaTemporaryPath, create: true)
        try temporary.write(meta.encoded(), at: 0)
        try temporary.sync()
        temporary.close()
        try storage.rename(layout.metaTemporaryPath, to: layout.metaPath)
        try storage.syncDirectory(layout.root)
    }

    private static func refuseIfLedgerFilesExist(storage: any Storage, layout: DataDirectoryLayout) throws {
        let found = try DataDirectoryMeta.ledgerFiles(storage: storage, layout: layout)
        guard !found.isEmpty else { return }
        if found.contains("ledger.meta") {
            throw LedgerError(.alreadyInitialized, "a ledger already exists here; nothing was changed", path: layout.root)
        }
        throw LedgerError(
            .alreadyInitialized,
            "refusing to initialise: the directory holds ledger files without ledger.meta (\(DataDirectoryMeta.describe(found))); nothing was changed. Investigate with `ledgerctl inspect wal`; an interrupted init leaves ledger.meta.tmp",
            path: layout.root)
    }
}
