// Constants of the WAL byte format. See Specs/wal-format.md: the tables there
// are normative. The writer (WALWriter.swift) and reader (WALReader.swift)
// sit beside this file.

public enum WALFormat {
    /// 6: record type 3, `timeline` (promotion; Specs/replication.md).
    public static let version: UInt8 = 6
    public static let magic: [UInt8] = Array("LDGRWAL".utf8) + [0]
    public static let fileHeaderBytes = 4096
    public static let fileHeaderUsedBytes = 64
    public static let recordHeaderBytes = 32
    public static let recordPayloadBytesMax = Limits.groupPayloadBytesMax
    public static let recordTypeGroup: UInt8 = 1
    public static let recordTypeClose: UInt8 = 2
    /// A promotion's timeline switch (TimelineRecord.swift, 64-byte payload).
    public static let recordTypeTimeline: UInt8 = 3
    /// batch count, reserved, committed LSN, chain hash (version 2).
    public static let groupHeaderBytes = 48
    public static let batchHeaderBytes = 16
    /// Close payload (type 2): the LSN of the last group record (u64 at 0).
    public static let closePayloadBytes = 8
    public static let closeLastGroupLSNOffset = 0

    @inlinable
    public static func align8(_ n: Int) -> Int { (n + 7) & ~7 }

    public static func recordBytes(payloadBytes: Int) -> Int { align8(recordHeaderBytes + payloadBytes) }
}

/// A decoded WAL file header.
public struct WALFileHeader: Sendable, Equatable {
    public var fileBytes: UInt64
    public var firstLSN: UInt64
    public var epoch: [UInt8]  // 16 bytes
    public var chainSeed: UInt32

    public init(fileBytes: UInt64, firstLSN: UInt64, epoch: [UInt8], chainSeed: UInt32) {
        precondition(epoch.count == 16, "epoch must be 16 bytes, got \(epoch.count)")
        self.fileBytes = fileBytes
        self.firstLSN = firstLSN
        self.epoch = epoch
        self.chainSeed = chainSeed
    }

    public var epochSeed: UInt32 { Checksum.crc32c(epoch) }

    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: WALFormat.fileHeaderBytes)
        bytes.withUnsafeMutableBytes { p in
            for (i, b) in WALFormat.magic.enumerated() { p[i] = b }
            _LE.put(p, 8, UInt32(WALFormat.version))
            _LE.put(p, 12, UInt32(WALFormat.fileHeaderBytes))
            _LE.put(p, 16, fileBytes)
            _LE.put(p, 24, firstLSN)
            for (i, b) in epoch.enumerated() { p[32 + i] = b }
            _LE.put(p, 48, chainSeed)
            let crc = Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<60])))
            _LE.put(p, 60, crc)
        }
        return bytes
    }

    /// Decodes and validates a header; throws `corruption` or
    /// `unsupportedVersion` naming `path`.
    public static func decode(_ bytes: [UInt8], path: String) throws -> WALFileHeader {
        try bytes.withUnsafeBytes { p in
            guard p.count >= WALFormat.fileHeaderUsedBytes else {
                throw LedgerError(.corruption, "WAL file header is truncated", path: path, offset: 0)
            }
            let crc = Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<60])))
            guard Array(p[0..<8]) == WALFormat.magic, crc == _LE.u32(p, 60) else {
                throw LedgerError(.corruption, "WAL file header has a bad magic or checksum; run `ledgerctl inspect wal`", path: path, offset: 0)
            }
            guard _LE.u32(p, 8) == UInt32(WALFormat.version) else {
                throw LedgerError(
                    .unsupportedVersion, "WAL format version \(_LE.u32(p, 8)) is not supported (this build reads \(WALFormat.version))", path: path, offset: 8)
            }
            guard _LE.u32(p, 12) == UInt32(WALFormat.fileHeaderBytes), _LE.u64(p, 52) == 0 else {
                throw LedgerError(.corruption, "WAL file header has unexpected fields", path: path, offset: 12)
            }
            return WALFileHeader(fileBytes: _LE.u64(p, 16), firstLSN: _LE.u64(p, 24), epoch: Array(p[32..<48]), chainSeed: _LE.u32(p, 48))
        }
    }
}

/// Record header fields and their validation.
public struct WALRecordHeader: Sendable, Equatable {
    public var payloadBytes: Int
    public var type: UInt8
    public var lsn: UInt64
    public var previousCRC: UInt32
    public var crc: UInt32

    /// Writes the header (with its CRC computed over header and payload) into
    /// `record`, which holds header then payload. Returns the masked CRC.
    @discardableResult
    public static func seal(
        _ record: UnsafeMutableRawBufferPointer, payloadBytes: Int, type: UInt8, lsn: UInt64, previousCRC: UInt32, epochSeed: UInt32
    ) -> UInt32 {
        precondition(payloadBytes <= WALFormat.recordPayloadBytesMax, "payload \(payloadBytes) above the limit")
        _LE.put(record, 0, UInt32(payloadBytes))
        record[4] = type
        record[5] = WALFormat.version
        _LE.put(record, 6, UInt16(0))
        _LE.put(record, 8, lsn)
        _LE.put(record, 16, previousCRC)
        _LE.put(record, 20, UInt64(0))
        let crc = computeCRC(UnsafeRawBufferPointer(record), payloadBytes: payloadBytes, epochSeed: epochSeed)
        _LE.put(record, 28, crc)
        return crc
    }

    @inlinable
    static func computeCRC(_ record: UnsafeRawBufferPointer, payloadBytes: Int, epochSeed: UInt32) -> UInt32 {
        var crc = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: record[0..<28]), seed: epochSeed)
        let payloadStart = WALFormat.recordHeaderBytes
        crc = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: record[payloadStart..<(payloadStart + payloadBytes)]), seed: crc)
        return Checksum.mask(crc)
    }

    /// Parses and checks the record at `offset` in `file` on its own (its
    /// structure and CRC, not its place in the chain). Nil when invalid.
    public static func standalone(_ file: UnsafeRawBufferPointer, at offset: Int, epochSeed: UInt32) -> WALRecordHeader? {
        guard offset + WALFormat.recordHeaderBytes <= file.count else { return nil }
        let payloadBytes = Int(_LE.u32(file, offset))
        let type = file[offset + 4]
        guard type == WALFormat.recordTypeGroup || type == WALFormat.recordTypeClose || type == WALFormat.recordTypeTimeline,
            file[offset + 5] == WALFormat.version,
            _LE.u16(file, offset + 6) == 0, _LE.u64(file, offset + 20) == 0,
            payloadBytes <= WALFormat.recordPayloadBytesMax,
            offset + WALFormat.recordBytes(payloadBytes: payloadBytes) <= file.count
        else { return nil }
        let record = UnsafeRawBufferPointer(rebasing: file[offset..<(offset + WALFormat.recordHeaderBytes + payloadBytes)])
        let crc = _LE.u32(file, offset + 28)
        guard computeCRC(record, payloadBytes: payloadBytes, epochSeed: epochSeed) == crc else { return nil }
        return WALRecordHeader(payloadBytes: payloadBytes, type: type, lsn: _LE.u64(file, offset + 8), previousCRC: _LE.u32(file, offset + 16), crc: crc)
    }
}
