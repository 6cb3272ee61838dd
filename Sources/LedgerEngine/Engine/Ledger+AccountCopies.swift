// Account-ordered copies of sealed months (Specs/account-copy-format.md),
// built through a running engine like archival: the copy is written on the
// calling thread from the immutable sealed segment while the engine keeps
// committing, and the filer's cached reader of the month is dropped on the
// apply thread so the next query opens the copy. Under the archive lock, so
// a month is never archived (its segment deleted) while it is copied.

extension Ledger {
    /// Builds the account-ordered copy of every sealed month held as a
    /// segment that has none or whose copy does not open (a damaged or
    /// stale copy is replaced: the file is derived and ours), and deletes
    /// copies that an interrupted archival left beside an archive. Returns
    /// the copies built. `continueWhile` is asked before each month (a
    /// stopping server waits for one month's copy, not for all of them). A
    /// sync failure stops the engine (crash-stop).
    @discardableResult
    public func buildAccountCopies(continueWhile: () -> Bool = { true }) throws -> [AccountCopyResult] {
        try archiveLock.withLock {
            var built: [AccountCopyResult] = []
            for sealed in try readSegments({ $0.sealedMonths }) {
                guard continueWhile() else { break }
                try crashStopOnSyncFailure {
                    if sealed.form != .segment {
                        try removeAccountCopy(sealed.month)
                    } else if !accountCopyOpens(sealed) {
                        let result = try AccountCopyWriter.write(
                            storage: storage, layout: layout, month: sealed.month, monthRoot: sealed.monthRoot, directoryID: meta.directoryID)
                        try readSegments { $0.dropReader(of: sealed.month) }
                        options.log("account copy: \(sealed.month) built (\(result.refCount) refs, \(result.fileBytes) bytes)")
                        built.append(result)
                    }
                }
            }
            return built
        }
    }

    /// Whether the month's copy exists and its header and CRC table check
    /// out against the sealed month and its index.
    private func accountCopyOpens(_ sealed: SealedMonth) -> Bool {
        let path = layout.accountCopyPath(sealed.month)
        guard storage.fileExists(path) else { return false }
        do {
            let index = try MonthIndexFile(
                storage: storage, path: layout.segmentIndexPath(sealed.month), month: sealed.month, directoryID: meta.directoryID,
                monthRoot: sealed.monthRoot)
            let seed = try SegmentReader.readHeader(storage: storage, path: layout.segmentPath(sealed.month)).recordSeed
            _ = try AccountCopyFile(
                storage: storage, path: path, month: sealed.month, directoryID: meta.directoryID, monthRoot: sealed.monthRoot, refCount: index.refCount,
                seed: seed)
            return true
        } catch {
            options.log("account copy: \(path) does not open (\(error)); building it again")
            return false
        }
    }

    /// Deletes a month's copy (archival: an archive is not served through
    /// one), then fsyncs `segments/`.
    func removeAccountCopy(_ month: UTCMonth) throws {
        let path = layout.accountCopyPath(month)
        guard storage.fileExists(path) else { return }
        try storage.removeFile(path)
        try storage.syncDirectory(layout.segmentsDirectory)
    }
}
