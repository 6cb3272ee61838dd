// After recovery's replay: where the segments stand against the WAL's end,
// and the cut of a never-synced tail beyond it (Engine/Recovery.swift).

extension SegmentFiler {
    /// Where the segments stand against the WAL's last LSN after recovery.
    /// Segments are filed only after their group's fdatasync returned, so a
    /// record beyond the WAL's end means the WAL lost a group that was once
    /// durable: a synced one (a sealed month, or below the open month's
    /// durable frontier) proves it was acknowledged.
    public enum WALReconciliation: Equatable {
        case consistent
        /// Records past the WAL's end that were never synced: truncate them.
        case unsyncedTail(path: String, firstLSN: UInt64)
        /// Synced records past the WAL's end: acknowledged data is lost.
        case syncedBeyondWAL(path: String, segmentLastLSN: UInt64)
    }

    public func reconcile(walLastLSN: UInt64) throws -> WALReconciliation {
        if let sealed = sealedMonths.last, sealed.lastLSN > walLastLSN {
            let path = sealed.form == .archive ? layout.archivePath(sealed.month) : layout.segmentPath(sealed.month)
            return .syncedBeyondWAL(path: path, segmentLastLSN: sealed.lastLSN)
        }
        guard let current, current.lastLSN > walLastLSN else { return .consistent }
        if current.frontier.lastLSN > walLastLSN { return .syncedBeyondWAL(path: current.path, segmentLastLSN: current.frontier.lastLSN) }
        var firstBeyond: UInt64 = 0
        _ = try SegmentReader.scan(storage: storage, path: current.path) { record in
            if firstBeyond == 0 && record.header.lsn > walLastLSN { firstBeyond = record.header.lsn }
        }
        return .unsyncedTail(path: current.path, firstLSN: firstBeyond)
    }

    /// Cuts the open month's records with LSN > `walLastLSN` (all beyond its
    /// durable frontier: `reconcile` said `unsyncedTail`), then syncs. The
    /// filer must be opened anew afterwards: its state includes them.
    public func truncateOpenMonth(afterLSN walLastLSN: UInt64) throws {
        guard let current, !readOnly else { preconditionFailure("no open month to truncate, or a read-only filer") }
        var cut: Int?
        _ = try SegmentReader.scan(storage: storage, path: current.path) { record in
            if cut == nil && record.header.lsn > walLastLSN { cut = record.offset }
        }
        guard let cut else { return }
        precondition(cut >= current.frontier.durableEndOffset, "truncating synced records at \(cut)")
        let file = try storage.openFile(current.path, create: false)
        defer { file.close() }
        try file.truncate(toSize: cut)
        try file.sync()
    }
}
