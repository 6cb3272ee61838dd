// Which files hold a month, and opening the one to read.
//
// A month is held by its segment (`.seg`, hot: the open month, or a sealed
// one), by its archive (`.arc`, sealed and compressed), or by both for a
// moment: archival renames the finished archive into place before it deletes
// the segment, and restore renames the finished segment into place before it
// deletes the archive (SegmentArchiver.swift). Both files are then complete
// and hold the same bytes; readers take the segment (no decompression) and
// `verify` checks both and says an archival or restore was interrupted.

public enum SegmentForm: Sendable, Hashable, CustomStringConvertible {
    case segment
    case archive
    /// An interrupted archival or restore: both are complete.
    case both

    public var description: String {
        switch self {
        case .segment: "segment"
        case .archive: "archive"
        case .both: "segment and archive (an archival or restore was interrupted)"
        }
    }
}

public enum SegmentFiles {
    /// About how many records a segment of this size holds (two-posting
    /// entries), for `MonthIndexBuilder.reserve`; 0 when it does not exist.
    static func estimatedRecords(storage: any Storage, path: String) throws -> Int {
        guard storage.fileExists(path) else { return 0 }
        let file = try storage.openFileForReading(path)
        defer { file.close() }
        return estimatedRecords(segmentBytes: try file.size())
    }

    /// About how many records a segment of `segmentBytes` holds.
    static func estimatedRecords(segmentBytes: Int) -> Int {
        let recordBytes = SegmentFormat.recordHeaderBytes + EventFormat.entryBytes(postingCount: 2, metadataBytes: 0)
        return max(0, segmentBytes - SegmentFormat.fileHeaderBytes) / recordBytes
    }

    /// Months held by a segment or an archive, oldest first, with their form.
    public static func months(storage: any Storage, layout: DataDirectoryLayout) throws -> [(month: UTCMonth, form: SegmentForm)] {
        guard storage.fileExists(layout.segmentsDirectory) else { return [] }
        var forms: [UTCMonth: SegmentForm] = [:]
        for name in try storage.listDirectory(layout.segmentsDirectory) {
            if let month = DataDirectoryLayout.month(ofSegmentFileName: name) {
                forms[month] = forms[month] == nil ? .segment : .both
            } else if let month = DataDirectoryLayout.month(ofArchiveFileName: name) {
                forms[month] = forms[month] == nil ? .archive : .both
            }
        }
        return forms.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Opens the month for reading: its segment when there is one, else its
    /// archive presented as the segment it compresses.
    public static func openForReading(
        _ month: UTCMonth, form: SegmentForm, storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8]?
    ) throws -> any ReadableFile {
        switch form {
        case .segment, .both: return try storage.openFileForReading(layout.segmentPath(month))
        case .archive: return try ArchivedSegmentFile(storage: storage, path: layout.archivePath(month), expectedDirectoryID: directoryID)
        }
    }
}
