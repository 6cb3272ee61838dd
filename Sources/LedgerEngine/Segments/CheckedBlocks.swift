// Reads from a region of a derived file that is checked in fixed-size
// blocks, each against its own masked CRC32C (the month index's body, the
// account copy's offsets table): only the covering blocks are read, and a
// block that fails is `corruption` naming the file and the block's offset.

extension ReadableFile {
    /// Bytes `[offset, offset + count)` of `region`, whose block `b` covers
    /// `region.lowerBound + b × blockBytes` (the last one may be shorter)
    /// and must have the masked CRC32C `blockCRCs[b]`.
    func readCheckedBlocks(_ offset: Int, _ count: Int, region: Range<Int>, blockBytes: Int, blockCRCs: [UInt32], what: String) throws -> [UInt8] {
        precondition(count > 0 && offset >= region.lowerBound && offset + count <= region.upperBound, "\(what): read out of range")
        let firstBlock = (offset - region.lowerBound) / blockBytes
        let lastBlock = (offset + count - 1 - region.lowerBound) / blockBytes
        let start = region.lowerBound + firstBlock * blockBytes
        let end = min(region.lowerBound + (lastBlock + 1) * blockBytes, region.upperBound)
        let blocks = try readExactly(end - start, at: start)
        try blocks.withUnsafeBytes { p in
            for b in firstBlock...lastBlock {
                let s = region.lowerBound + b * blockBytes - start
                let e = min(s + blockBytes, end - start)
                guard Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[s..<e]))) == blockCRCs[b] else {
                    throw LedgerError(.corruption, "\(what) \(b) fails its checksum; run `ledgerctl verify`", path: path, offset: start + s)
                }
            }
        }
        return Array(blocks[(offset - start)..<(offset - start + count)])
    }
}
