// Every file name in a data directory is built here and only here.
//
//   LOCK                     flock()ed by the one process using the directory
//   ledger.meta              format marker written by `ledgerctl init`
//   wal-<first LSN>.log      write-ahead log files (Specs/wal-format.md)
//   wal-next.tmp             the next WAL file, being preallocated
//   wal-spare-<n>.tmp        a WAL file compaction retired, kept for reuse
//                            (deleted at open and at close)
//   balances.index           memory-mapped balance index (Specs/balance-index.md)
//   segments/YYYY-MM.seg     monthly history (Specs/segment-format.md)
//   segments/YYYY-MM.idx     a sealed month's index (derived)
//   segments/YYYY-MM.arc     an archived sealed month (Specs/archive-format.md)
//   segments/YYYY-MM.acp     a sealed month's account-ordered copy (derived;
//                            Specs/account-copy-format.md)
//   segments/YYYY-MM.omi     the open month's index saved at a clean close
//                            (derived; Specs/open-month-index-format.md)
//   segments/*.tmp           an archive or restore in progress (deleted at open)
//   snapshots/snapshot-<LSN>.snap  snapshots (Specs/snapshot-format.md)
//   snapshots/snapshot-spare.tmp   a pruned snapshot kept for reuse
//   standby.signal           present on a standby (Specs/replication.md)
//   replication-slots        the primary's replication slots (Specs/replication.md)
//   timeline-history         every promotion of this log (Specs/replication.md)
//   superseded               a primary that learned of a newer timeline takes no writes
public struct DataDirectoryLayout: Sendable {
    public let root: String

    public init(root: String) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
    }

    public var lockPath: String { root + "/LOCK" }
    public var metaPath: String { root + "/ledger.meta" }
    public var metaTemporaryPath: String { root + "/ledger.meta.tmp" }
    public var indexPath: String { root + "/balances.index" }
    public var walNextTemporaryPath: String { root + "/wal-next.tmp" }
    /// A WAL file compaction retired, kept for the next preparation to reuse
    /// (WALFilePreparer); `number` only keeps the names apart.
    public func walSparePath(_ number: Int) -> String { root + "/wal-spare-\(number).tmp" }
    /// Whether a temporary name is a kept WAL file (`walSparePath`).
    public static func isWALSpare(_ name: String) -> Bool { name.hasPrefix("wal-spare-") && name.hasSuffix(".tmp") }
    /// Present while the directory is a standby: it mirrors a primary's
    /// log and refuses writes until it is promoted.
    public var standbySignalPath: String { root + "/standby.signal" }
    /// The primary's replication slots (Specs/replication.md).
    public var replicationSlotsPath: String { root + "/replication-slots" }
    /// Every promotion this log went through (TimelineHistory.swift).
    public var timelineHistoryPath: String { root + "/timeline-history" }
    /// Present once a primary learned that a standby was promoted past it
    /// (a newer timeline): it refuses writes from then on.
    public var supersededPath: String { root + "/superseded" }

    public static func walFileName(firstLSN: UInt64) -> String {
        let digits = String(firstLSN)
        return "wal-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }

    public func walPath(firstLSN: UInt64) -> String { root + "/" + Self.walFileName(firstLSN: firstLSN) }

    /// The first LSN encoded in a WAL file name, or nil for other names.
    public static func firstLSN(ofWALFileName name: String) -> UInt64? {
        guard name.hasPrefix("wal-"), name.hasSuffix(".log"), name.count == 28 else { return nil }
        return UInt64(name.dropFirst(4).dropLast(4))
    }

    public static func isTemporary(_ name: String) -> Bool { name.hasSuffix(".tmp") }

    /// Where a file is written before its rename into `path` (recovery
    /// deletes these: `isTemporary`).
    public static func temporaryPath(for path: String) -> String { path + ".tmp" }

    /// The server's API keys (`LedgerServer --keys-file` overrides it).
    public var apiKeysPath: String { root + "/api-keys" }

    /// Whether a top-level name is something a ledger writes (`LOCK` and
    /// files the engine does not own, such as the server's `api-keys`, are
    /// not). A directory holding any of these is never initialised over.
    public static func belongsToLedger(_ name: String) -> Bool {
        name == "ledger.meta" || name == "ledger.meta.tmp" || name == "standby.signal" || name == "replication-slots" || name == "balances.index"
            || name == "timeline-history" || name == "superseded"
            || name == "segments" || name == "snapshots"
            || name == "recovery"
            || (name.hasPrefix("wal-") && (name.hasSuffix(".log") || name.hasSuffix(".tmp")))
    }

    public var segmentsDirectory: String { root + "/segments" }

    /// Bytes a repair replaced, kept (`ledgerctl recover --from-segments`).
    public var recoveryDirectory: String { root + "/recovery" }

    /// The copy of WAL bytes a repair replaced at `offset` of `walPath`.
    public func replacedWALBytesPath(walPath: String, offset: Int) -> String {
        recoveryDirectory + "/" + (walPath.split(separator: "/").last.map(String.init) ?? "wal") + ".offset-\(offset).damaged"
    }

    public static func segmentFileName(_ month: UTCMonth) -> String {
        let year = String(month.year)
        let paddedYear = String(repeating: "0", count: max(0, 4 - year.count)) + year
        return paddedYear + "-" + (month.month < 10 ? "0" : "") + String(month.month) + ".seg"
    }

    public func segmentPath(_ month: UTCMonth) -> String { segmentsDirectory + "/" + Self.segmentFileName(month) }

    public var snapshotsDirectory: String { root + "/snapshots" }

    /// `snapshot-<LSN, 20 digits>.snap`: names sort by LSN.
    public static func snapshotFileName(lsn: UInt64) -> String {
        let digits = String(lsn)
        return "snapshot-" + String(repeating: "0", count: 20 - digits.count) + digits + ".snap"
    }

    public func snapshotPath(lsn: UInt64) -> String { snapshotsDirectory + "/" + Self.snapshotFileName(lsn: lsn) }
    /// A pruned snapshot kept for the next snapshot to be written in
    /// (SnapshotStore.swift); deleted at open and at close.
    public var snapshotSparePath: String { snapshotsDirectory + "/snapshot-spare.tmp" }

    public static func lsn(ofSnapshotFileName name: String) -> UInt64? {
        guard name.count == 34, name.hasPrefix("snapshot-"), name.hasSuffix(".snap") else { return nil }
        return UInt64(name.dropFirst(9).prefix(20))
    }

    /// A sealed month's index (derived from its segment; rebuilt if lost).
    public func segmentIndexPath(_ month: UTCMonth) -> String { segmentsDirectory + "/" + Self.segmentFileName(month).dropLast(4) + ".idx" }

    /// A sealed month's archived form, and the temporary names archival and
    /// restore write before renaming.
    public func archivePath(_ month: UTCMonth) -> String { segmentsDirectory + "/" + Self.segmentFileName(month).dropLast(4) + ".arc" }
    public func archiveTemporaryPath(_ month: UTCMonth) -> String { archivePath(month) + ".tmp" }
    public func segmentTemporaryPath(_ month: UTCMonth) -> String { segmentPath(month) + ".tmp" }

    /// A sealed month's account-ordered copy (derived; Specs/account-copy-format.md).
    public func accountCopyPath(_ month: UTCMonth) -> String { segmentsDirectory + "/" + Self.segmentFileName(month).dropLast(4) + ".acp" }

    /// The month an account copy's file name stands for, or nil for other names.
    public static func month(ofAccountCopyFileName name: String) -> UTCMonth? { month(ofName: name, suffix: ".acp") }
    public func openMonthIndexPath(_ month: UTCMonth) -> String { segmentsDirectory + "/" + Self.segmentFileName(month).dropLast(4) + ".omi" }
    public static func month(ofOpenMonthIndexFileName name: String) -> UTCMonth? { month(ofName: name, suffix: ".omi") }
    /// Derived files a copy of the directory leaves out (a base backup, a
    /// point-in-time restore): account copies (large; a standby builds its
    /// own) and saved open-month indexes (only valid until the next open).
    public static func isLeftOutOfCopies(_ name: String) -> Bool {
        month(ofAccountCopyFileName: name) != nil || month(ofOpenMonthIndexFileName: name) != nil
    }

    /// The month a segment file name stands for, or nil for other names.
    public static func month(ofSegmentFileName name: String) -> UTCMonth? { month(ofName: name, suffix: ".seg") }

    /// The month an archive file name stands for, or nil for other names.
    public static func month(ofArchiveFileName name: String) -> UTCMonth? { month(ofName: name, suffix: ".arc") }

    private static func month(ofName name: String, suffix: String) -> UTCMonth? {
        guard name.count == 11, name.hasSuffix(suffix), name[name.index(name.startIndex, offsetBy: 4)] == "-",
            let year = Int(name.prefix(4)), let month = Int(name.dropFirst(5).prefix(2)), (1...12).contains(month)
        else { return nil }
        return UTCMonth(year: year, month: month)
    }
}
