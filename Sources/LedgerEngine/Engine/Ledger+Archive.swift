// Archival and restore of sealed months through a running engine. The
// compression and the checks run on the calling thread against immutable
// sealed segments while the engine keeps committing; the filer's record of
// which form to read is switched on the apply thread, between groups, just
// before the old form is deleted. See SegmentArchiver.swift for the steps
// and why a crash at any point leaves every month readable.

extension Ledger {
    /// Archives every sealed month before `before` that is not archived
    /// yet, and finishes archivals that a crash interrupted (both forms
    /// present). A sync failure stops the engine (crash-stop).
    @discardableResult
    public func archive(
        before: UTCMonth, codec: CompressionCodec, level: Int, frameBytesTarget: Int = ArchiveFormat.frameBytesTargetDefault
    ) throws -> [ArchiveResult] {
        guard codec.levels.contains(level) else {
            throw LedgerError(.invalidInput, "\(codec) level \(level) is outside \(codec.levels.lowerBound)...\(codec.levels.upperBound)")
        }
        guard ArchiveFormat.frameBytesTargetRange.contains(frameBytesTarget) else {
            throw LedgerError(.invalidInput, "frame size \(frameBytesTarget) bytes is outside \(ArchiveFormat.frameBytesTargetRange)")
        }
        return try archiveLock.withLock {
            let months = try readSegments { $0.sealedMonths.filter { $0.month < before && $0.form != .archive } }
            var results: [ArchiveResult] = []
            for sealed in months {
                try crashStopOnSyncFailure {
                    if sealed.form == .segment {
                        results.append(
                            try SegmentArchiver.writeArchive(
                                storage: storage, layout: layout, month: sealed.month, directoryID: meta.directoryID, codec: codec, level: level,
                                frameBytesTarget: frameBytesTarget))
                        try SegmentArchiver.checkArchiveFrames(storage: storage, layout: layout, month: sealed.month, directoryID: meta.directoryID)
                    } else {
                        try SegmentArchiver.checkArchiveMatchesSegment(storage: storage, layout: layout, month: sealed.month, directoryID: meta.directoryID)
                    }
                    try readSegments { $0.setForm(.archive, of: sealed.month) }
                    try removeAccountCopy(sealed.month)
                    try SegmentArchiver.removeSegment(storage: storage, layout: layout, month: sealed.month)
                    options.log("archive: \(sealed.month) archived" + (sealed.form == .both ? " (finished an interrupted archival)" : ""))
                }
            }
            return results
        }
    }

    /// Decompresses an archived month back into its segment (or finishes an
    /// interrupted restore). Returns nil when the month is not archived.
    @discardableResult
    public func restore(month: UTCMonth) throws -> ArchiveResult? {
        try archiveLock.withLock {
            guard let sealed = try readSegments({ $0.sealedMonths.first { $0.month == month } }) else {
                throw LedgerError(.invalidInput, "\(month) is not a sealed month")
            }
            guard sealed.form != .segment else { return nil }
            var result: ArchiveResult?
            try crashStopOnSyncFailure {
                if sealed.form == .archive {
                    result = try SegmentArchiver.writeSegment(storage: storage, layout: layout, month: month, directoryID: meta.directoryID)
                }
                try SegmentArchiver.checkArchiveMatchesSegment(storage: storage, layout: layout, month: month, directoryID: meta.directoryID)
                try readSegments { $0.setForm(.segment, of: month) }
                try SegmentArchiver.removeArchive(storage: storage, layout: layout, month: month)
                options.log("restore: \(month) restored" + (sealed.form == .both ? " (finished an interrupted restore)" : ""))
            }
            return result
        }
    }

    /// A failed sync may have lost dirty pages: stop the engine instead of
    /// carrying on (the rule for every fsync, Specs and STORAGE-PRACTICE).
    func crashStopOnSyncFailure(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as LedgerError where error.code == .syncFailed {
            stop(because: error, failing: [])
            throw error
        }
    }
}
