// What a data directory holds on disk, for metrics and operators: WAL files
// and bytes, the newest snapshot, months by form with their bytes. Read
// from the directory listing and file sizes (and one snapshot header),
// never from the apply thread: cheap enough for a metrics scrape, and
// reads only.

extension Ledger {
    public struct DiskReport: Sendable {
        public var walFiles = 0
        public var walBytes = 0
        /// The newest snapshot's LSN and the engine time of the last event it
        /// covers (nil: no snapshot yet).
        public var newestSnapshot: (lsn: UInt64, lastEventNs: UInt64)?
        /// Months by form: how many, and their bytes (segment, index and
        /// archive files).
        public var months: [SegmentForm: (count: Int, bytes: Int)] = [:]
    }

    public func diskReport() throws -> DiskReport {
        var report = DiskReport()
        for (_, path) in try WALReader(storage: storage, layout: layout).walFiles() {
            report.walFiles += 1
            report.walBytes += try fileBytes(path)
        }
        if let newest = try SnapshotStore.list(storage: storage, layout: layout).max(by: { $0.lsn < $1.lsn }) {
            let header = try SnapshotStore.header(path: newest.path, storage: storage)
            report.newestSnapshot = (header.lsn, header.lastTimestamp)
        }
        for (month, form) in try SegmentFiles.months(storage: storage, layout: layout) {
            var bytes = 0
            for path in [
                layout.segmentPath(month), layout.segmentIndexPath(month), layout.archivePath(month), layout.accountCopyPath(month),
                layout.openMonthIndexPath(month),
            ]
            where storage.fileExists(path) {
                bytes += try fileBytes(path)
            }
            let sum = report.months[form] ?? (0, 0)
            report.months[form] = (sum.count + 1, sum.bytes + bytes)
        }
        return report
    }

    private func fileBytes(_ path: String) throws -> Int {
        let file = try storage.openFileForReading(path)
        defer { file.close() }
        return try file.size()
    }
}
