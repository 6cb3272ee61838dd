// Point-in-time restore (Specs/replication.md, "Point-in-time restore"):
// a base backup plus the WAL archive (`--archive-wal-to`) rebuilt into a
// new directory holding exactly the log up to a target LSN or time.
//
// Nothing that exists is written: the base backup and the archive are only
// read; the result is built in `<to>.partial` (which must not exist), in
// this order: the base's files copied (not its lock, index or standby
// marker) → the archive's WAL files from the base's last one on copied over
// (the same file, complete, has the same header) → the log cut after the
// last record the target keeps (the rest of that file zeroed, later files
// deleted) → opened as a standby (full recovery: every record replayed and
// checked), promoted to a new timeline so the restored history can never
// be mistaken for the original's continuation → verified → renamed to
// `<to>`, the parent fsynced. A failure leaves `<to>.partial` for the
// operator to look at.

public enum RestoreTarget: Sendable, Equatable {
    /// Keep records up to and including this LSN.
    case lsn(UInt64)
    /// Keep every group whose events all have timestamps at or before this
    /// (ns since the epoch); a group is atomic, so one that straddles the
    /// time is not kept.
    case time(ns: UInt64)
}

public struct PointInTimeRestore {
    public struct Report: Sendable {
        public var baseLastLSN: UInt64 = 0
        public var archivedFilesUsed = 0
        /// The last LSN kept (before the promotion's timeline record).
        public var lastLSN: UInt64 = 0
        /// The timestamp of the last event kept (0: none in the kept log).
        public var lastEventNs: UInt64 = 0
        public var timeline: UInt64 = 0
    }

    let storage: any Storage
    let base: DataDirectoryLayout
    let archive: String
    let target: DataDirectoryLayout
    let partial: DataDirectoryLayout

    public init(storage: any Storage = POSIXStorage(), base: String, archive: String, to target: String) throws {
        self.storage = storage
        (self.base, self.archive) = (DataDirectoryLayout(root: base), DataDirectoryLayout(root: archive).root)
        self.target = DataDirectoryLayout(root: target)
        partial = DataDirectoryLayout(root: self.target.root + ".partial")
        guard storage.fileExists(self.base.metaPath) else { throw LedgerError(.invalidInput, "--base holds no ledger (no ledger.meta)", path: base) }
        guard storage.fileExists(self.archive) else { throw LedgerError(.invalidInput, "the WAL archive does not exist", path: archive) }
        guard !storage.fileExists(self.target.root) else { throw LedgerError(.alreadyInitialized, "--to exists; choose a new directory", path: target) }
        guard !storage.fileExists(partial.root) else {
            throw LedgerError(.alreadyInitialized, "a previous restore left this partial directory; inspect and delete it, then run again", path: partial.root)
        }
    }

    public func run(until: RestoreTarget, log: @escaping @Sendable (String) -> Void = { _ in }) throws -> Report {
        var report = Report()
        report.baseLastLSN = try WALReader(storage: storage, layout: base).scan(mode: .verify) { _ in }.lastLSN
        if case .lsn(let lsn) = until, lsn < report.baseLastLSN {
            throw LedgerError(
                .invalidInput, "the base backup is consistent only from LSN \(report.baseLastLSN) on, after --until \(lsn): use an older base backup",
                path: base.root)
        }
        try copyBase()
        report.archivedFilesUsed = try copyArchivedWAL()
        let cut = try cutPoint(until, baseLastLSN: report.baseLastLSN)
        try cutLog(at: cut)
        (report.lastLSN, report.lastEventNs) = (cut.lastLSN, cut.lastEventNs)
        var options = Ledger.Options()
        options.log = log
        let ledger = try Ledger.open(at: partial.root, storage: storage, options: options)
        let row: TimelineSwitch
        do { row = try ledger.promote() } catch {
            try? ledger.close()
            throw error
        }
        try ledger.close()
        report.timeline = row.timeline
        let verified = try Verifier.verify(at: partial.root, storage: storage)
        guard verified.passed else {
            throw LedgerError(.corruption, "the restored directory does not verify: \(verified.problems.first.map { "\($0)" } ?? "?")", path: partial.root)
        }
        try storage.rename(partial.root, to: target.root)
        try storage.syncDirectory(BaseBackupWriter.parent(of: target.root))
        return report
    }
}
