// Writes the open month's saved index (OpenMonthIndexFormat.swift,
// Specs/open-month-index-format.md), and compares a file with what it would
// write (`verify`). The writer streams each section through one 1 MiB
// buffer (the index is ~300 MB at 4M events: no second copy in memory).
// The reader (OpenMonthIndexFile+Read.swift) checks a mapping of the file
// and hands the builder its sections to read in place.

enum OpenMonthIndexFile {
    typealias Format = OpenMonthIndexFormat

    /// What a saved file restores: the builder (its per-state-slot links
    /// still to be made: `MonthIndexBuilder.link(to:)`), the holds open at
    /// the covered end, and the header (what the segment must agree with).
    struct Saved {
        var header: Format.Header
        /// The file's bytes, which the builder's per-event arrays read in
        /// place (SavedEventArray.swift).
        var bytes: SavedIndexBytes
        var index: MonthIndexBuilder
        var holds: [UInt128: SegmentHold]
    }

    /// The segment writer's position the index describes.
    struct Covered {
        var endOffset: Int
        var rootSoFar: [UInt8]
        var recordCount: Int
        var first: (lsn: UInt64, timestamp: UInt64)
        var last: (lsn: UInt64, timestamp: UInt64)
    }

    /// Writes `path` durably: `<path>.tmp` (sections, then the header with
    /// their CRCs), fdatasync, rename, fsync of `directory`. A failure
    /// removes the temporary file and throws.
    static func write(
        _ index: MonthIndexBuilder, holds: [UInt128: SegmentHold], covered: Covered, directoryID: [UInt8], storage: any Storage, path: String,
        directory: String
    ) throws {
        precondition(index.t.records.count == covered.recordCount, "\(index.t.records.count) records indexed, \(covered.recordCount) covered")
        let temporary = DataDirectoryLayout.temporaryPath(for: path)
        if storage.fileExists(temporary) { try storage.removeFile(temporary) }
        let file = try storage.openFile(temporary, create: true)
        do {
            defer { file.close() }
            var header = header(of: index, holds: holds, covered: covered, directoryID: directoryID)
            var sink = SectionSink(offset: Format.headerBytes) { bytes, offset in try file.write(bytes, at: offset) }
            defer { sink.deallocate() }
            try writeSections(index, holds: holds, into: &sink, crcs: &header.sectionCRCs)
            precondition(sink.offset == header.fileBytes, "wrote \(sink.offset) bytes of \(header.fileBytes)")
            try header.encoded().withUnsafeBytes { try file.write($0, at: 0) }
            try file.sync()
        } catch {
            try? storage.removeFile(temporary)
            throw error
        }
        try storage.rename(temporary, to: path)
        try storage.syncDirectory(directory)
    }

    static func header(of index: MonthIndexBuilder, holds: [UInt128: SegmentHold], covered: Covered, directoryID: [UInt8]) -> Format.Header {
        let t = index.t
        return Format.Header(
            month: index.month, directoryID: directoryID, coveredEndOffset: covered.endOffset, rootSoFar: covered.rootSoFar, recordCount: covered.recordCount,
            first: covered.first, last: covered.last, holdCount: holds.count, holdPostingCount: holds.values.reduce(0) { $0 + $1.postings.count },
            ledgerTotalCount: index.totals.count, accountCount: t.summaries.count, refCount: t.summaries.reduce(0) { $0 + $1.eventCount },
            checkpointCount: t.summaries.reduce(0) { $0 + $1.eventCount / MonthIndex.checkpointInterval }, entryCount: t.entryIDs.count)
    }

    // Long: one loop per section, in file order, as the spec lists them.
    private static func writeSections(
        _ index: MonthIndexBuilder, holds: [UInt128: SegmentHold], into sink: inout SectionSink, crcs: inout [UInt32]
    ) throws {
        let t = index.t
        precondition(t.entryIDs.count == t.entryOffsets.count, "builder tables disagree")
        for (id, hold) in holds.sorted(by: { $0.key < $1.key }) {
            try sink.put(Format.holdBytes) { p in
                _LE.put(p, 0, id)
                _LE.put(p, 16, hold.position.rawValue)
                _LE.put(p, 24, UInt32(hold.postings.count))
            }
            for posting in hold.postings {
                try sink.put(Format.holdPostingBytes) { p in
                    _LE.put(p, 0, posting.accountID)
                    _LE.put(p, 16, posting.amount)
                    p[32] = posting.side.rawValue
                }
            }
        }
        crcs[Format.Section.holds.rawValue] = try sink.endSection()
        for total in index.totals.sorted(by: { $0.ledger < $1.ledger }) {
            try sink.put(Format.ledgerTotalBytes) { p in
                _LE.put(p, 0, total.ledger)
                _LE.put(p, 8, total.debitsPosted)
                _LE.put(p, 24, total.creditsPosted)
            }
        }
        crcs[Format.Section.ledgerTotals.rawValue] = try sink.endSection()
        for summary in t.summaries {
            try sink.put(Format.accountBytes) { p in
                _LE.put(p, 0, summary.id)
                _LE.put(p, 16, summary.ledger)
                _LE.put(p, 20, summary.flags.rawValue)
                _LE.put(p, 24, UInt64(summary.eventCount))
                SegmentSeal.put(summary.opening, p, 32)
                SegmentSeal.put(summary.closing, p, 96)
            }
        }
        crcs[Format.Section.accounts.rawValue] = try sink.endSection()
        for slot in t.summaries.indices { try sink.putAll(t.refs.elements(slot, 0..<t.refs.count(slot))) }
        crcs[Format.Section.refs.rawValue] = try sink.endSection()
        for slot in t.summaries.indices { try sink.putAll(t.checkpoints.elements(slot, 0..<t.checkpoints.count(slot))) }
        crcs[Format.Section.checkpoints.rawValue] = try sink.endSection()
        try sink.putAll(t.entryIDs)
        crcs[Format.Section.entryIDs.rawValue] = try sink.endSection()
        try sink.putAll(t.entryOffsets)
        crcs[Format.Section.entryOffsets.rawValue] = try sink.endSection()
        try sink.putAll(t.records)
        crcs[Format.Section.records.rawValue] = try sink.endSection()
        try sink.flush()
    }

    /// The first offset where `file` differs from what `write` would write
    /// (or where the shorter one ends); nil when equal. Compared in 1 MiB
    /// pieces, never a second copy of the file in memory (`verify`).
    static func firstDifference(
        _ file: any ReadableFile, _ index: MonthIndexBuilder, holds: [UInt128: SegmentHold], covered: Covered, directoryID: [UInt8]
    ) throws -> Int? {
        var header = header(of: index, holds: holds, covered: covered, directoryID: directoryID)
        var difference: Int?
        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { piece.deallocate() }
        func compare(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
            guard difference == nil else { return }
            let got = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: piece[0..<bytes.count]), at: offset)
            if !UnsafeRawBufferPointer(rebasing: piece[0..<got]).elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[0..<got])) {
                difference = offset + (0..<got).first { piece[$0] != bytes[$0] }!
            } else if got < bytes.count {
                difference = offset + got
            }
        }
        var sink = SectionSink(offset: Format.headerBytes, emit: compare)
        defer { sink.deallocate() }
        try writeSections(index, holds: holds, into: &sink, crcs: &header.sectionCRCs)
        try header.encoded().withUnsafeBytes { try compare($0, at: 0) }
        if difference == nil, try file.size() != header.fileBytes { difference = min(try file.size(), header.fileBytes) }
        return difference
    }

    /// Sequential output through one buffer, with a running CRC32C per
    /// section: `emit` writes (or compares) each full buffer at its offset.
    struct SectionSink {
        let emit: (UnsafeRawBufferPointer, Int) throws -> Void
        private(set) var offset: Int
        private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        private var used = 0
        private var crcFrom = 0
        private var crc: UInt32 = 0

        init(offset: Int, emit: @escaping (UnsafeRawBufferPointer, Int) throws -> Void) {
            self.emit = emit
            self.offset = offset
        }

        func deallocate() { buffer.deallocate() }

        /// Appends `count` zeroed bytes that `fill` writes.
        mutating func put(_ count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) throws {
            precondition(count <= 4096, "item of \(count) bytes")
            if used + count > buffer.count { try flush() }
            let item = UnsafeMutableRawBufferPointer(rebasing: buffer[used..<(used + count)])
            item.initializeMemory(as: UInt8.self, repeating: 0)
            fill(item)
            used += count
        }

        /// Appends each element as a saved index stores it.
        mutating func putAll<S: Sequence>(_ elements: S) throws where S.Element: SavedElement {
            for element in elements { try put(S.Element.savedBytes) { element.store($0, 0) } }
        }

        /// The masked CRC32C of the section that ends here.
        mutating func endSection() throws -> UInt32 {
            crc = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: buffer[crcFrom..<used]), seed: crc)
            crcFrom = used
            defer { crc = 0 }
            return Checksum.mask(crc)
        }

        mutating func flush() throws {
            crc = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: buffer[crcFrom..<used]), seed: crc)
            try emit(UnsafeRawBufferPointer(rebasing: buffer[0..<used]), offset)
            offset += used
            used = 0
            crcFrom = 0
        }
    }
}
