// The archived form of a sealed month (`segments/YYYY-MM.arc`): the sealed
// segment file's bytes, cut at record boundaries into frames that are each
// compressed on their own (zstd or lz4, with the codec's content checksum),
// and a frame index so a query decompresses only the frame holding the
// record it reads. Specs/archive-format.md is normative.
//
//   [0, 4096)              header (first 128 bytes used, CRC at 124)
//   [4096, indexOffset)    compressed frames, back to back
//   [indexOffset, end)     frame index: 32 bytes per frame
//
// The archive is lossless: decompressing every frame in order gives back the
// segment's bytes `[0, durable end)`, which are checked exactly as a segment
// is (header, record CRCs, seal, month root).
public enum ArchiveFormat {
    public static let version: UInt32 = 1
    public static let magic: [UInt8] = Array("LDGRARC".utf8) + [0]
    public static let headerBytes = 4096
    public static let headerUsedBytes = 128
    public static let frameEntryBytes = 32
    /// Frames hold at least this many segment bytes (except the last two:
    /// the tail of the records, and the seal on its own). Smaller frames make
    /// a lookup cheaper and compress worse; see Benchmarks/RESULTS.md.
    public static let frameBytesTargetDefault = 32 << 10
    public static let frameBytesTargetRange = (4 << 10)...(4 << 20)
    /// A month's segment is bounded by the WAL's LSN space, not here; a frame
    /// count above this would mean a damaged header.
    public static let frameCountMax = 1 << 24
}

/// The archive's header. See Specs/archive-format.md ("Header").
public struct ArchiveHeader: Sendable, Equatable {
    public var codec: CompressionCodec
    public var level: Int
    public var month: UTCMonth
    public var directoryID: [UInt8]
    public var frameCount: Int
    /// Bytes of the segment this archive holds (its durable end).
    public var segmentBytes: Int
    public var frameIndexOffset: Int
    /// CRC32C (masked) of the whole frame index.
    public var frameIndexCRC: UInt32
    public var frameBytesTarget: Int
    /// The month root from the segment's seal: names what the archive holds.
    public var monthRoot: [UInt8]

    public var fileBytes: Int { frameIndexOffset + frameCount * ArchiveFormat.frameEntryBytes }

    public func encoded() -> [UInt8] {
        precondition(directoryID.count == 16 && monthRoot.count == 32, "archive header fields")
        var bytes = [UInt8](repeating: 0, count: ArchiveFormat.headerBytes)
        bytes.withUnsafeMutableBytes { p in
            for (i, b) in ArchiveFormat.magic.enumerated() { p[i] = b }
            _LE.put(p, 8, ArchiveFormat.version)
            p[12] = codec.rawValue
            p[13] = UInt8(level)
            _LE.put(p, 16, UInt16(month.year))
            p[18] = UInt8(month.month)
            _LE.put(p, 20, UInt32(frameCount))
            for (i, b) in directoryID.enumerated() { p[24 + i] = b }
            _LE.put(p, 40, UInt64(segmentBytes))
            _LE.put(p, 48, UInt64(frameIndexOffset))
            _LE.put(p, 56, frameIndexCRC)
            _LE.put(p, 60, UInt32(frameBytesTarget))
            for (i, b) in monthRoot.enumerated() { p[64 + i] = b }
            _LE.put(p, 124, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<124]))))
        }
        return bytes
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> ArchiveHeader {
        try bytes.withUnsafeBytes { p in
            guard p.count >= ArchiveFormat.headerUsedBytes, Array(p[0..<8]) == ArchiveFormat.magic,
                Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<124]))) == _LE.u32(p, 124)
            else { throw LedgerError(.corruption, "archive header has a bad magic or checksum; run `ledgerctl verify`", path: path, offset: 0) }
            guard _LE.u32(p, 8) == ArchiveFormat.version else {
                throw LedgerError(.unsupportedVersion, "archive format version \(_LE.u32(p, 8)) is not supported", path: path, offset: 8)
            }
            guard let codec = CompressionCodec(rawValue: p[12]), codec.levels.contains(Int(p[13])), p[14] == 0, p[15] == 0 else {
                throw LedgerError(.corruption, "archive header names codec \(p[12]) level \(p[13]), which do not exist", path: path, offset: 12)
            }
            let year = Int(_LE.u16(p, 16))
            let monthNumber = Int(p[18])
            let frameCount = Int(_LE.u32(p, 20))
            let segmentBytes = _LE.size(p, 40)
            let frameIndexOffset = _LE.size(p, 48)
            let frameBytesTarget = Int(_LE.u32(p, 60))
            guard (1...12).contains(monthNumber), UTCMonth.years.contains(year), p[19] == 0, frameCount >= 1, frameCount <= ArchiveFormat.frameCountMax,
                segmentBytes >= SegmentFormat.fileHeaderBytes, segmentBytes < 1 << 48,
                frameIndexOffset >= ArchiveFormat.headerBytes, frameIndexOffset < 1 << 48,
                ArchiveFormat.frameBytesTargetRange.contains(frameBytesTarget),
                UnsafeRawBufferPointer(rebasing: p[96..<124]).allSatisfy({ $0 == 0 })
            else { throw LedgerError(.corruption, "archive header fields are out of range", path: path, offset: 16) }
            return ArchiveHeader(
                codec: codec, level: Int(p[13]), month: UTCMonth(year: year, month: monthNumber), directoryID: Array(p[24..<40]),
                frameCount: frameCount, segmentBytes: segmentBytes, frameIndexOffset: frameIndexOffset, frameIndexCRC: _LE.u32(p, 56),
                frameBytesTarget: frameBytesTarget, monthRoot: Array(p[64..<96]))
        }
    }
}

/// One frame in the frame index. See Specs/archive-format.md ("Frame index").
public struct ArchiveFrame: Sendable, Equatable {
    /// Where the frame's bytes start in the segment, and how many.
    public var segmentOffset: Int
    public var segmentBytes: Int
    /// Where the compressed frame starts in the archive, and its size.
    public var archiveOffset: Int
    public var compressedBytes: Int
    /// CRC32C (masked) of the compressed bytes: damage is named before the
    /// codec sees it.
    public var compressedCRC: UInt32

    func encode(into p: UnsafeMutableRawBufferPointer, at o: Int) {
        _LE.put(p, o, UInt64(segmentOffset))
        _LE.put(p, o + 8, UInt64(archiveOffset))
        _LE.put(p, o + 16, UInt32(segmentBytes))
        _LE.put(p, o + 20, UInt32(compressedBytes))
        _LE.put(p, o + 24, compressedCRC)
        _LE.put(p, o + 28, UInt32(0))
    }

    static func decode(_ p: UnsafeRawBufferPointer, at o: Int) -> ArchiveFrame? {
        guard _LE.u32(p, o + 28) == 0, _LE.u64(p, o) < 1 << 48, _LE.u64(p, o + 8) < 1 << 48 else { return nil }
        return ArchiveFrame(
            segmentOffset: _LE.size(p, o), segmentBytes: Int(_LE.u32(p, o + 16)), archiveOffset: _LE.size(p, o + 8),
            compressedBytes: Int(_LE.u32(p, o + 20)), compressedCRC: _LE.u32(p, o + 24))
    }

    /// Decodes and checks a frame index: frames tile the segment from 0 and
    /// the archive from the header's end, in order, without gaps.
    static func decodeIndex(_ bytes: [UInt8], header: ArchiveHeader, path: String) throws -> [ArchiveFrame] {
        guard bytes.count == header.frameCount * ArchiveFormat.frameEntryBytes,
            bytes.withUnsafeBytes({ Checksum.mask(Checksum.crc32c($0)) }) == header.frameIndexCRC
        else {
            throw LedgerError(.corruption, "archive frame index fails its checksum; run `ledgerctl verify`", path: path, offset: header.frameIndexOffset)
        }
        return try bytes.withUnsafeBytes { p in
            var frames: [ArchiveFrame] = []
            frames.reserveCapacity(header.frameCount)
            var segmentOffset = 0
            var archiveOffset = ArchiveFormat.headerBytes
            for i in 0..<header.frameCount {
                let at = i * ArchiveFormat.frameEntryBytes
                guard let frame = decode(p, at: at), frame.segmentOffset == segmentOffset, frame.archiveOffset == archiveOffset,
                    frame.segmentBytes > 0, frame.compressedBytes > 0
                else {
                    throw LedgerError(
                        .corruption, "archive frame index entry \(i) does not follow frame \(i - 1)", path: path, offset: header.frameIndexOffset + at)
                }
                frames.append(frame)
                segmentOffset += frame.segmentBytes
                archiveOffset += frame.compressedBytes
            }
            guard segmentOffset == header.segmentBytes, archiveOffset == header.frameIndexOffset else {
                throw LedgerError(
                    .corruption,
                    "archive frames cover \(segmentOffset) segment bytes and end at \(archiveOffset); the header says \(header.segmentBytes) and \(header.frameIndexOffset)",
                    path: path, offset: header.frameIndexOffset)
            }
            return frames
        }
    }
}
