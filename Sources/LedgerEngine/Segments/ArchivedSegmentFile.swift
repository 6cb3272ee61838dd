// An archived month read as the segment it compresses: `read(into:at:)`
// finds the frame holding the offset through the frame index (binary
// search), checks the compressed bytes' CRC32C, decompresses the frame (the
// codec checks its content checksum) and copies out. The last few frames are
// kept decompressed, because a query reads neighbouring records.
//
// Not thread-safe: one owner at a time (the filer's queries run on the apply
// thread; verify and restore open their own).
public final class ArchivedSegmentFile: ReadableFile {
    public let path: String
    public let header: ArchiveHeader
    public let frames: [ArchiveFrame]
    private let file: any ReadableFile
    private let decompressor: FrameDecompressor
    /// Decompressed frames, most recently used last.
    private var cache: [(frame: Int, bytes: [UInt8])] = []
    static let cachedFramesMax = 4
    /// Frames decompressed so far (for tests and benchmarks).
    public private(set) var framesDecompressed = 0

    public init(storage: any Storage, path: String, expectedDirectoryID: [UInt8]?) throws {
        self.path = path
        file = try storage.openFileForReading(path)
        do {
            header = try ArchiveHeader.decode(try file.readExactly(ArchiveFormat.headerUsedBytes, at: 0), path: path)
            if let expectedDirectoryID, header.directoryID != expectedDirectoryID {
                throw LedgerError(.corruption, "archive belongs to another data directory", path: path, offset: 24)
            }
            if let name = path.split(separator: "/").last, let named = DataDirectoryLayout.month(ofArchiveFileName: String(name)), named != header.month {
                throw LedgerError(.corruption, "archive named \(named) holds month \(header.month)", path: path, offset: 16)
            }
            let size = try file.size()
            guard size == header.fileBytes else {
                throw LedgerError(
                    .corruption, "archive is \(size) bytes; its header says \(header.fileBytes) (truncated or extended)", path: path,
                    offset: min(size, header.fileBytes))
            }
            frames = try ArchiveFrame.decodeIndex(
                try file.readExactly(header.frameCount * ArchiveFormat.frameEntryBytes, at: header.frameIndexOffset), header: header, path: path)
            decompressor = FrameDecompressor(codec: header.codec)
        } catch {
            file.close()
            throw error
        }
    }

    public func size() throws -> Int { header.segmentBytes }

    public func close() { file.close() }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        precondition(offset >= 0, "negative offset")
        var done = 0
        while done < buffer.count && offset + done < header.segmentBytes {
            let position = offset + done
            let i = frameIndex(containing: position)
            let frame = frames[i]
            let bytes = try decompressed(i)
            let start = position - frame.segmentOffset
            let n = min(buffer.count - done, frame.segmentBytes - start)
            bytes.withUnsafeBytes { src in
                (buffer.baseAddress! + done).copyMemory(from: src.baseAddress! + start, byteCount: n)
            }
            done += n
        }
        return done
    }

    /// The frame whose segment range holds `offset` (which is in range).
    func frameIndex(containing offset: Int) -> Int {
        var low = 0
        var high = frames.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if frames[mid].segmentOffset <= offset { low = mid } else { high = mid - 1 }
        }
        return low
    }

    /// Frame `i`'s segment bytes, checked: its CRC32C, then the codec's
    /// content checksum and size.
    public func decompressed(_ i: Int) throws -> [UInt8] {
        if let hit = cache.firstIndex(where: { $0.frame == i }) {
            let entry = cache.remove(at: hit)
            cache.append(entry)
            return entry.bytes
        }
        let frame = frames[i]
        let compressed = try file.readExactly(frame.compressedBytes, at: frame.archiveOffset)
        let bytes: [UInt8] = try compressed.withUnsafeBytes { raw in
            guard Checksum.mask(Checksum.crc32c(raw)) == frame.compressedCRC else {
                throw LedgerError(
                    .corruption,
                    "archive frame \(i) (segment bytes \(frame.segmentOffset)..<\(frame.segmentOffset + frame.segmentBytes)) fails its CRC32C; run `ledgerctl verify`",
                    path: path, offset: frame.archiveOffset)
            }
            do {
                return try decompressor.decompress(raw, decompressedBytes: frame.segmentBytes)
            } catch let error as LedgerError {
                throw LedgerError(.corruption, "archive frame \(i): \(error.message)", path: path, offset: frame.archiveOffset)
            }
        }
        framesDecompressed += 1
        if cache.count == Self.cachedFramesMax { cache.removeFirst() }
        cache.append((i, bytes))
        return bytes
    }
}
