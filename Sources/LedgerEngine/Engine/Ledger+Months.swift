// What a running engine holds, for operator commands over the protocol
// (`admin`: months, digest): read between groups on the apply thread, so
// each answer is one consistent point.

extension Ledger {
    public struct MonthState: Sendable, Equatable {
        public enum State: String, Sendable { case open, sealed, archived, both }
        public var month: UTCMonth
        public var state: State
        /// Segment, index, archive and account copy files (bytes).
        public var bytes: Int
        /// The month root (sealed months; nil for the open month).
        public var root: [UInt8]?
        public var lastLSN: UInt64?
    }

    /// Every month on disk, oldest first: the open one, sealed ones in their
    /// form (a month in both forms: an interrupted archival or restore).
    public func months() throws -> [MonthState] {
        let sealed = try readSegments { $0.sealedMonths }
        return try SegmentFiles.months(storage: storage, layout: layout).map { month, form in
            var bytes = 0
            for path in [
                layout.segmentPath(month), layout.segmentIndexPath(month), layout.archivePath(month), layout.accountCopyPath(month),
                layout.openMonthIndexPath(month),
            ]
            where storage.fileExists(path) {
                let file = try storage.openFileForReading(path)
                defer { file.close() }
                bytes += try file.size()
            }
            guard let seal = sealed.first(where: { $0.month == month }) else {
                return MonthState(month: month, state: .open, bytes: bytes, root: nil, lastLSN: nil)
            }
            let state: MonthState.State = seal.form == .segment ? .sealed : seal.form == .archive ? .archived : .both
            return MonthState(month: month, state: state, bytes: bytes, root: seal.monthRoot, lastLSN: seal.lastLSN)
        }
    }

    /// Sealed months before `before` not archived yet (or left in both forms
    /// by an interrupted archival), oldest first: what `archive` would do,
    /// for callers that archive them one at a time.
    public func monthsToArchive(before: UTCMonth) throws -> [UTCMonth] {
        try months().filter { $0.month < before && ($0.state == .sealed || $0.state == .both) }.map(\.month)
    }

    /// The chain head at the last durable LSN and every sealed month's root,
    /// as the engine holds them (not recomputed: `verify` does that).
    public func digest() throws -> (lsn: UInt64, chainHead: [UInt8], months: [SealedMonth]) {
        try readSegments { segments in (self.wal.nextLSN - 1, self.chain.head, segments.sealedMonths) }
    }
}
