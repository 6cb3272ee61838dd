// The timeline history (Specs/replication.md, "Timelines"): every promotion
// this directory's log went through, one row per timeline record. The WAL
// is the truth; this file keeps the rows once compaction has deleted the
// WAL files holding their records, and recovery checks it against every
// timeline record still in the log (adding one a crash left out). Writer
// and reader side by side, as for the slots file.

public struct TimelineHistory: Sendable, Equatable {
    /// Oldest first; each row's previous timeline is the row before's.
    public private(set) var rows: [TimelineSwitch]

    public static let timelinesMax = 1_000

    public init(rows: [TimelineSwitch] = []) throws {
        self.rows = []
        for row in rows { try append(row) }
    }

    /// The timeline the log's end is on (1 before any promotion).
    public var current: UInt64 { rows.last?.timeline ?? 1 }

    /// Adds the next promotion; throws `corruption` when it does not
    /// continue the history.
    public mutating func append(_ row: TimelineSwitch) throws {
        guard row.previousTimeline == current, row.forkLSN >= (rows.last.map { $0.forkLSN + 1 } ?? 0) else {
            throw LedgerError(
                .corruption,
                "timeline \(row.timeline) (from \(row.previousTimeline) at LSN \(row.forkLSN)) does not follow timeline \(current)\(rows.last.map { " (forked at LSN \($0.forkLSN))" } ?? "")"
            )
        }
        guard rows.count < Self.timelinesMax else {
            throw LedgerError(.invalidInput, "more than \(Self.timelinesMax) timelines (the limit of timeline-history)")
        }
        rows.append(row)
    }

    /// The last LSN of `timeline` in this history: nil while it is the
    /// current one, or when this history never went through it.
    public func endLSN(of timeline: UInt64) -> UInt64?? {
        if timeline == current { return .some(nil) }
        if let row = rows.first(where: { $0.previousTimeline == timeline }) { return .some(row.forkLSN) }
        return nil
    }

    /// The timeline LSN `lsn` is on.
    public func timeline(at lsn: UInt64) -> UInt64 {
        rows.last(where: { $0.forkLSN < lsn })?.timeline ?? 1
    }

    /// Checks the file's rows against the timeline records the kept WAL
    /// holds (`records`, in LSN order; the WAL spans `walFirstLSN` through
    /// `walLastLSN`) and adds those it lacks. Returns whether rows were added.
    public mutating func reconcile(with records: [TimelineSwitch], walFirstLSN: UInt64, walLastLSN: UInt64, path: String) throws -> Bool {
        var added = false
        for record in records {
            if let row = rows.first(where: { $0.timeline == record.timeline }) {
                guard row == record else {
                    throw LedgerError(
                        .corruption,
                        "timeline \(record.timeline): the record at LSN \(record.forkLSN + 1) differs from its row in this file; investigate with `ledgerctl verify`",
                        path: path)
                }
            } else {
                try append(record)
                added = true
            }
        }
        for row in rows where row.forkLSN + 1 >= walFirstLSN && !records.contains(row) {
            throw LedgerError(
                .corruption,
                "timeline \(row.timeline) forked at LSN \(row.forkLSN), but the WAL (LSN \(walFirstLSN) to \(walLastLSN)) has no such timeline record; investigate with `ledgerctl verify`",
                path: path)
        }
        return added
    }
}

public enum TimelineHistoryFile {
    static let magic = Array("LDGRTLHI".utf8)
    static let version: UInt32 = 1
    static let headerBytes = 16

    public static func encode(_ history: TimelineHistory) -> [UInt8] {
        let rowBytes = TimelineSwitch.payloadBytes
        var out = [UInt8](repeating: 0, count: headerBytes + history.rows.count * rowBytes + 4)
        out.withUnsafeMutableBytes { p in
            for (i, byte) in magic.enumerated() { p[i] = byte }
            _LE.put(p, 8, version)
            _LE.put(p, 12, UInt32(history.rows.count))
            for (i, row) in history.rows.enumerated() {
                row.encode(into: UnsafeMutableRawBufferPointer(rebasing: p[(headerBytes + i * rowBytes)...]))
            }
            let end = p.count - 4
            _LE.put(p, end, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<end]))))
        }
        return out
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> TimelineHistory {
        func corrupt(_ what: String, _ offset: Int = 0) -> LedgerError {
            LedgerError(.corruption, "timeline history: \(what); investigate with `ledgerctl verify`", path: path, offset: offset)
        }
        let rowBytes = TimelineSwitch.payloadBytes
        guard bytes.count >= headerBytes + 4, Array(bytes[0..<8]) == magic else { throw corrupt("too short or bad magic") }
        return try bytes.withUnsafeBytes { p in
            guard _LE.u32(p, 8) == version else { throw LedgerError(.unsupportedVersion, "timeline history version \(_LE.u32(p, 8))", path: path) }
            let count = Int(_LE.u32(p, 12))
            guard count <= TimelineHistory.timelinesMax, bytes.count == headerBytes + count * rowBytes + 4 else {
                throw corrupt("\(count) rows in \(bytes.count) bytes")
            }
            guard Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(bytes.count - 4)]))) == _LE.u32(p, bytes.count - 4) else {
                throw corrupt("checksum mismatch", bytes.count - 4)
            }
            var rows: [TimelineSwitch] = []
            for i in 0..<count {
                let at = headerBytes + i * rowBytes
                guard let row = TimelineSwitch.decode(UnsafeRawBufferPointer(rebasing: p[at..<(at + rowBytes)])) else {
                    throw corrupt("row \(i) malformed", at)
                }
                rows.append(row)
            }
            do { return try TimelineHistory(rows: rows) } catch let error as LedgerError { throw corrupt(error.message) }
        }
    }

    /// A directory's history (none when the file does not exist: timeline 1).
    public static func read(storage: any Storage, layout: DataDirectoryLayout) throws -> TimelineHistory {
        let path = layout.timelineHistoryPath
        guard storage.fileExists(path) else { return try TimelineHistory() }
        let file = try storage.openFileForReading(path)
        defer { file.close() }
        let size = try file.size()
        guard size <= headerBytes + TimelineHistory.timelinesMax * TimelineSwitch.payloadBytes + 4 else {
            throw LedgerError(.corruption, "timeline history of \(size) bytes", path: path)
        }
        return try decode(try file.readExactly(size, at: 0), path: path)
    }

    /// Replaces the file: tmp, fdatasync, rename, fsync of the directory.
    public static func write(_ history: TimelineHistory, storage: any Storage, layout: DataDirectoryLayout) throws {
        try storage.replaceFile(layout.timelineHistoryPath, with: encode(history), directory: layout.root)
    }
}
