// The open month's index saved at a clean close, `segments/<YYYY>-<MM>.omi`:
// what re-indexing the open month's segment at open would build (the month
// index builder's tables and the holds open at its end), so a restart reads
// it instead of re-deriving 4M events (2.5-3.9 s of a 50M-entry restart:
// Benchmarks/RESULTS.md, issue 13, target 3). Derived, never the truth: an
// open checks every record before the saved end against it (offset and
// timestamp, besides each record's CRC and the month root's SHA-256) and
// rescans the month when anything disagrees; a read-write open deletes it,
// so it never describes a month that has grown since. See
// Specs/open-month-index-format.md; the layout there is normative. Writer
// and reader: OpenMonthIndexFile.swift.

public enum OpenMonthIndexFormat {
    public static let version: UInt32 = 1
    public static let magic: [UInt8] = Array("LDGROMI".utf8) + [0]
    public static let headerBytes = 256
    static let holdBytes = SegmentSeal.holdBytes
    static let holdPostingBytes = SegmentSeal.holdPostingBytes
    static let ledgerTotalBytes = SegmentSeal.ledgerBytes
    static let accountBytes = 160
    static let refBytes = 8
    static let checkpointBytes = 64
    static let entryIDBytes = 16
    static let entryOffsetBytes = 8
    static let recordBytes = 24
    /// Sections, in file order; each has its own CRC in the header.
    enum Section: Int, CaseIterable {
        case holds, ledgerTotals, accounts, refs, checkpoints, entryIDs, entryOffsets, records
    }
    static let sectionCRCsOffset = 152
    static let rootSoFarOffset = 184
    /// Any count above this is damage (and keeps every product below 2^56).
    static let countMax = 1 << 40

    /// The header's fields.
    struct Header: Equatable {
        var month: UTCMonth
        var directoryID: [UInt8]
        /// The segment's bytes this index describes: its records end here.
        var coveredEndOffset: Int
        /// The month root's SHA-256 state finished after the covered
        /// records: what the open's scan must find again.
        var rootSoFar: [UInt8]
        var recordCount: Int
        var first: (lsn: UInt64, timestamp: UInt64)
        var last: (lsn: UInt64, timestamp: UInt64)
        var holdCount: Int
        var holdPostingCount: Int
        var ledgerTotalCount: Int
        var accountCount: Int
        var refCount: Int
        var checkpointCount: Int
        var entryCount: Int
        var sectionCRCs: [UInt32] = Array(repeating: 0, count: Section.allCases.count)

        static func == (a: Self, b: Self) -> Bool { a.encoded() == b.encoded() }

        func sectionBytes(_ section: Section) -> Int {
            switch section {
            case .holds: holdCount * holdBytes + holdPostingCount * holdPostingBytes
            case .ledgerTotals: ledgerTotalCount * ledgerTotalBytes
            case .accounts: accountCount * accountBytes
            case .refs: refCount * refBytes
            case .checkpoints: checkpointCount * checkpointBytes
            case .entryIDs: entryCount * entryIDBytes
            case .entryOffsets: entryCount * entryOffsetBytes
            case .records: recordCount * recordBytes
            }
        }

        func sectionOffset(_ section: Section) -> Int {
            Section.allCases.prefix(section.rawValue).reduce(headerBytes) { $0 + sectionBytes($1) }
        }

        var fileBytes: Int { sectionOffset(.records) + sectionBytes(.records) }

        func encoded() -> [UInt8] {
            precondition(directoryID.count == 16 && rootSoFar.count == 32, "directory id of \(directoryID.count) bytes, root of \(rootSoFar.count)")
            var bytes = [UInt8](repeating: 0, count: headerBytes)
            bytes.withUnsafeMutableBytes { p in
                for (i, b) in magic.enumerated() { p[i] = b }
                _LE.put(p, 8, version)
                _LE.put(p, 12, UInt32(headerBytes))
                _LE.put(p, 16, UInt32(month.number))
                for i in 0..<16 { p[24 + i] = directoryID[i] }
                let fields: [UInt64] = [
                    UInt64(coveredEndOffset), UInt64(recordCount), first.lsn, first.timestamp, last.lsn, last.timestamp, UInt64(holdCount),
                    UInt64(holdPostingCount), UInt64(ledgerTotalCount), UInt64(accountCount), UInt64(refCount), UInt64(checkpointCount),
                    UInt64(entryCount), UInt64(fileBytes),
                ]
                for (i, field) in fields.enumerated() { _LE.put(p, 40 + 8 * i, field) }
                for (i, crc) in sectionCRCs.enumerated() { _LE.put(p, sectionCRCsOffset + 4 * i, crc) }
                for i in 0..<32 { p[rootSoFarOffset + i] = rootSoFar[i] }
                _LE.put(p, headerBytes - 4, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(headerBytes - 4)]))))
            }
            return bytes
        }

        /// The header, or nil when it is damaged, of another version, or its
        /// counts do not add up (the caller names the file).
        static func decode(_ p: UnsafeRawBufferPointer) -> Header? {
            guard p.count >= headerBytes, Array(p[0..<8]) == magic, _LE.u32(p, 8) == version, _LE.u32(p, 12) == UInt32(headerBytes),
                _LE.u32(p, 20) == 0, _LE.isZero(p, rootSoFarOffset + 32, headerBytes - 4 - rootSoFarOffset - 32),
                Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(headerBytes - 4)]))) == _LE.u32(p, headerBytes - 4),
                let month = UTCMonth(checkedNumber: Int(_LE.u32(p, 16)))
            else { return nil }
            // Counts and offsets bounded, so the sizes below cannot overflow.
            let f = [40, 48, 88, 96, 104, 112, 120, 128, 136, 144].map { _LE.size(p, $0) }
            guard f.allSatisfy({ $0 < countMax }) else { return nil }
            let header = Header(
                month: month, directoryID: Array(p[24..<40]), coveredEndOffset: f[0],
                rootSoFar: Array(p[rootSoFarOffset..<(rootSoFarOffset + 32)]), recordCount: f[1], first: (_LE.u64(p, 56), _LE.u64(p, 64)),
                last: (_LE.u64(p, 72), _LE.u64(p, 80)), holdCount: f[2], holdPostingCount: f[3], ledgerTotalCount: f[4], accountCount: f[5],
                refCount: f[6], checkpointCount: f[7], entryCount: f[8],
                sectionCRCs: Section.allCases.map { _LE.u32(p, sectionCRCsOffset + 4 * $0.rawValue) })
            guard f[9] == header.fileBytes, header.coveredEndOffset >= SegmentFormat.fileHeaderBytes, header.entryCount <= header.recordCount,
                header.first.lsn <= header.last.lsn, header.first.timestamp <= header.last.timestamp
            else { return nil }
            return header
        }
    }
}
