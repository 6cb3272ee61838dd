// The steps of a point-in-time restore (PointInTimeRestore.swift), each on
// `<to>.partial` only: copying, cutting.

extension PointInTimeRestore {
    /// Where the log is cut: the first record not kept (nil: keep all).
    struct Cut {
        var path: String?
        var offset = 0
        var laterFiles: [String] = []
        var lastLSN: UInt64 = 0
        var lastEventNs: UInt64 = 0
    }

    /// The base's files a directory needs (not its lock, balance index,
    /// standby marker, keys or slots), each fdatasync'd; then
    /// `standby.signal`, so the restored log is opened as a standby and
    /// promoted.
    func copyBase() throws {
        for directory in [partial.root, partial.segmentsDirectory, partial.snapshotsDirectory] { try storage.makeDirectory(directory) }
        var names = try storage.listDirectory(base.root).filter {
            $0 == "ledger.meta" || $0 == "timeline-history" || DataDirectoryLayout.firstLSN(ofWALFileName: $0) != nil
        }
        for sub in ["segments", "snapshots"] where storage.fileExists(base.root + "/" + sub) {
            // Account copies and saved open-month indexes are derived: the restored engine builds its own.
            names += try storage.listDirectory(base.root + "/" + sub).filter {
                !DataDirectoryLayout.isTemporary($0) && !DataDirectoryLayout.isLeftOutOfCopies($0)
            }.map { sub + "/" + $0 }
        }
        for name in names { try copy(base.root + "/" + name, to: partial.root + "/" + name) }
        let signal = try storage.openFile(partial.standbySignalPath, create: true)
        defer { signal.close() }
        try signal.write(Array("primary=none (point-in-time restore)\n".utf8), at: 0)
        try signal.sync()
        for directory in [partial.segmentsDirectory, partial.snapshotsDirectory, partial.root] { try storage.syncDirectory(directory) }
    }

    /// The archive's WAL files from the base's last one on. An archived
    /// file of a name the base holds must be the same file (same header:
    /// the same epoch), complete where the base's copy stops at its end.
    func copyArchivedWAL() throws -> Int {
        let baseFiles = try WALReader(storage: storage, layout: base).walFiles()
        guard let lastBase = baseFiles.last else { throw LedgerError(.notInitialized, "the base backup holds no WAL file", path: base.root) }
        var used = 0
        let archived = try storage.listDirectory(archive).compactMap { name in DataDirectoryLayout.firstLSN(ofWALFileName: name).map { ($0, name) } }
        for (firstLSN, name) in archived.sorted(by: { $0.0 < $1.0 }) where firstLSN >= lastBase.firstLSN {
            let destination = partial.root + "/" + name
            if storage.fileExists(destination) {
                let (mine, theirs) = (try header(destination), try header(archive + "/" + name))
                guard mine == theirs else {
                    throw LedgerError(
                        .corruption, "the archived \(name) is not the base backup's file of that name (another header)", path: archive + "/" + name)
                }
            }
            try copy(archive + "/" + name, to: destination)
            used += 1
        }
        try storage.syncDirectory(partial.root)
        return used
    }

    /// Reads the restored log (every CRC and link) and finds the first
    /// record the target does not keep.
    func cutPoint(_ until: RestoreTarget, baseLastLSN: UInt64) throws -> Cut {
        var cut = Cut()
        let scan = try WALReader(storage: storage, layout: partial).scan(mode: .verify) { record in
            guard cut.path == nil else { return }
            let keep: Bool
            var lastNs: UInt64 = 0
            if record.header.type == WALFormat.recordTypeGroup {
                try WALGroupPayload.forEachBatch(record.payload) { lastNs = max(lastNs, $0.timestamp + UInt64($0.eventCount) - 1) }
            }
            switch until {
            case .lsn(let lsn): keep = record.header.lsn <= lsn
            case .time(let ns): keep = lastNs <= ns
            }
            if keep {
                cut.lastLSN = record.header.lsn
                cut.lastEventNs = max(cut.lastEventNs, lastNs)
            } else {
                (cut.path, cut.offset) = (record.path, record.offset)
            }
        }
        if let problem = scan.problems.first {
            throw LedgerError(.corruption, "the base backup and the archive do not make one log: \(problem)", path: problem.path, offset: problem.offset)
        }
        guard let path = cut.path else {
            throw LedgerError(
                .invalidInput, "the archived log ends at LSN \(scan.lastLSN) before it reaches --until: the archive holds only completed WAL files",
                path: archive)
        }
        guard cut.lastLSN >= baseLastLSN else {
            throw LedgerError(
                .invalidInput, "the base backup is consistent only from LSN \(baseLastLSN) on, after --until: use an older base backup", path: base.root)
        }
        let files = try WALReader(storage: storage, layout: partial).walFiles().map(\.path)
        cut.laterFiles = Array(files.drop { $0 != path }.dropFirst())
        return cut
    }

    /// Zeroes the cut file from the cut on and deletes the files after it.
    func cutLog(at cut: Cut) throws {
        guard let path = cut.path else { return }
        let file = try storage.openFile(path, create: false)
        defer { file.close() }
        try file.writeZeros(at: cut.offset, count: try file.size() - cut.offset)
        try file.sync()
        for later in cut.laterFiles { try storage.removeFile(later) }
        try storage.syncDirectory(partial.root)
    }

    private func header(_ path: String) throws -> [UInt8] {
        let file = try storage.openFileForReading(path)
        defer { file.close() }
        return try file.readExactly(WALFormat.fileHeaderUsedBytes, at: 0)
    }

    /// A whole file, in 1 MiB pieces, fdatasync'd.
    private func copy(_ source: String, to destination: String) throws {
        let input = try storage.openFileForReading(source)
        defer { input.close() }
        let output = try storage.openFile(destination, create: true)
        defer { output.close() }
        let size = try input.size()
        var offset = 0
        while offset < size {
            let piece = try input.readExactly(min(1 << 20, size - offset), at: offset)
            try output.write(piece, at: offset)
            offset += piece.count
        }
        try output.truncate(toSize: size)
        try output.sync()
    }
}
