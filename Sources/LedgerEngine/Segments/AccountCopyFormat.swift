// The account-ordered copy of a sealed month, `segments/<YYYY>-<MM>.acp`:
// every record of the month again, grouped by account in the month index's
// ref order, so a history page is one contiguous read instead of ~130
// scattered ones (issue 13, target 6). Derived: built from the sealed
// segment and its index, deleted at archival, never the truth. See
// Specs/account-copy-format.md; the layout there is normative. Writer:
// AccountCopyWriter.swift; reader: AccountCopyFile.swift.

public enum AccountCopyFormat {
    public static let version: UInt32 = 1
    public static let magic: [UInt8] = Array("LDGRACP".utf8) + [0]
    public static let headerBytes = 4096
    /// The offsets table is checked in blocks of this many bytes.
    public static let blockBytes = 4096
    static let offsetBytes = 8
    /// The longest run of records a page reads from the copy at once; a
    /// longer one (large events) is read from the segment instead.
    public static let spanBytesMax = 1 << 20

    /// The header's variable fields.
    struct Header: Equatable {
        var month: UTCMonth
        var directoryID: [UInt8]
        var monthRoot: [UInt8]
        var refCount: Int
        var offsetsOffset: Int

        var crcsOffset: Int { offsetsOffset + (refCount + 1) * offsetBytes }
        var blockCount: Int { ((refCount + 1) * offsetBytes + blockBytes - 1) / blockBytes }
        var fileBytes: Int { crcsOffset + MonthIndexFormat.align8(blockCount * 4) }
    }

    static func encodeHeader(_ h: Header) -> [UInt8] {
        precondition(h.directoryID.count == 16 && h.monthRoot.count == 32 && h.offsetsOffset >= headerBytes, "header fields")
        var bytes = [UInt8](repeating: 0, count: headerBytes)
        bytes.withUnsafeMutableBytes { p in
            for (i, b) in magic.enumerated() { p[i] = b }
            _LE.put(p, 8, version)
            _LE.put(p, 12, UInt32(headerBytes))
            _LE.put(p, 16, UInt32(h.month.number))
            _LE.put(p, 20, UInt32(blockBytes))
            for i in 0..<16 { p[24 + i] = h.directoryID[i] }
            for i in 0..<32 { p[40 + i] = h.monthRoot[i] }
            _LE.put(p, 72, UInt64(h.refCount))
            _LE.put(p, 80, UInt64(h.offsetsOffset))
            _LE.put(p, 88, UInt64(h.crcsOffset))
            _LE.put(p, 96, UInt64(h.fileBytes))
            _LE.put(p, headerBytes - 4, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(headerBytes - 4)]))))
        }
        return bytes
    }

    /// The header, or nil when it is damaged, of another version, or its
    /// offsets do not add up (the caller names the file).
    static func decodeHeader(_ bytes: [UInt8]) -> Header? {
        guard bytes.count == headerBytes else { return nil }
        return bytes.withUnsafeBytes { p -> Header? in
            guard Array(p[0..<8]) == magic, _LE.u32(p, 8) == version, _LE.u32(p, 12) == UInt32(headerBytes),
                _LE.u32(p, 20) == UInt32(blockBytes),
                Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(headerBytes - 4)]))) == _LE.u32(p, headerBytes - 4),
                _LE.isZero(p, 104, headerBytes - 4 - 104)
            else { return nil }
            guard let month = UTCMonth(checkedNumber: Int(_LE.u32(p, 16))) else { return nil }
            let header = Header(
                month: month, directoryID: Array(p[24..<40]), monthRoot: Array(p[40..<72]), refCount: _LE.size(p, 72),
                offsetsOffset: _LE.size(p, 80))
            // Bounded so the arithmetic below cannot overflow.
            guard header.refCount < 1 << 40, header.offsetsOffset >= headerBytes, header.offsetsOffset < 1 << 50, header.offsetsOffset % 8 == 0,
                _LE.size(p, 88) == header.crcsOffset, _LE.size(p, 96) == header.fileBytes
            else { return nil }
            return header
        }
    }

    /// The masked CRC32C of each block of an encoded offsets table.
    static func blockCRCs(_ table: UnsafeRawBufferPointer) -> [UInt32] {
        stride(from: 0, to: table.count, by: blockBytes).map { start in
            Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: table[start..<min(start + blockBytes, table.count)])))
        }
    }
}
