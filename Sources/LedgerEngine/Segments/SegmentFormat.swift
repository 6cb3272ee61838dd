// Constants and codecs of the segment byte format. See
// Specs/segment-format.md: the tables there are normative. The writer
// (SegmentWriter.swift) and reader (SegmentReader.swift) sit beside this file.
public enum SegmentFormat {
    public static let version: UInt8 = 3
    public static let magic: [UInt8] = Array("LDGRSEG".utf8) + [0]
    public static let fileHeaderBytes = 4096
    public static let fileHeaderUsedBytes = 128
    public static let recordHeaderBytes = 32
    public static let recordTypeEvent: UInt8 = 1
    /// The largest event (128 postings, 1,024 metadata bytes).
    public static let eventBytesMax = EventFormat.entryBytes(postingCount: Limits.entryPostingsMax, metadataBytes: Limits.entryMetadataBytesMax)
    /// Offsets of the two durable-frontier slots in the header page.
    public static let frontierSlotOffsets = [1024, 2048]
    public static let frontierSlotBytes = 32
}

/// How far a segment is known durable. See Specs/segment-format.md
/// ("Durable frontier").
public struct SegmentFrontier: Sendable, Equatable {
    public var generation: UInt64
    public var durableEndOffset: Int
    public var lastLSN: UInt64

    public static let empty = SegmentFrontier(generation: 0, durableEndOffset: SegmentFormat.fileHeaderBytes, lastLSN: 0)

    public func encoded(seed: UInt32) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: SegmentFormat.frontierSlotBytes)
        bytes.withUnsafeMutableBytes { p in
            _LE.put(p, 0, generation)
            _LE.put(p, 8, UInt64(durableEndOffset))
            _LE.put(p, 16, lastLSN)
            _LE.put(p, 28, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<28]), seed: seed)))
        }
        return bytes
    }

    /// `.some(nil)` for an empty slot, nil for an invalid one.
    public static func decode(_ p: UnsafeRawBufferPointer, seed: UInt32) -> SegmentFrontier?? {
        precondition(p.count == SegmentFormat.frontierSlotBytes, "frontier slot of \(p.count) bytes")
        if p.allSatisfy({ $0 == 0 }) { return .some(nil) }
        guard _LE.u32(p, 24) == 0,
            Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<28]), seed: seed)) == _LE.u32(p, 28)
        else { return nil }
        return .some(SegmentFrontier(generation: _LE.u64(p, 0), durableEndOffset: _LE.size(p, 8), lastLSN: _LE.u64(p, 16)))
    }

    /// The frontier recorded in a header page: the valid slot with the higher
    /// generation; empty when both slots are empty. Throws `corruption` when
    /// no slot is valid and not both are empty.
    static func read(headerPage p: UnsafeRawBufferPointer, seed: UInt32, path: String) throws -> (frontier: SegmentFrontier, slot: Int) {
        var best: (SegmentFrontier, Int)?
        var invalid = 0
        for (slot, offset) in SegmentFormat.frontierSlotOffsets.enumerated() {
            switch decode(UnsafeRawBufferPointer(rebasing: p[offset..<(offset + SegmentFormat.frontierSlotBytes)]), seed: seed) {
            case .none: invalid += 1
            case .some(.none): break
            case .some(.some(let frontier)):
                if frontier.generation > (best?.0.generation ?? 0) { best = (frontier, slot) }
            }
        }
        if let best { return best }
        if invalid > 0 {
            throw LedgerError(.corruption, "no valid durable-frontier slot in the segment header", path: path, offset: SegmentFormat.frontierSlotOffsets[0])
        }
        return (.empty, 1)  // the next write goes to slot 0
    }
}

public struct SegmentFileHeader: Sendable, Equatable {
    public var month: UTCMonth
    public var directoryID: [UInt8]
    /// The latest earlier month with a segment when this one was created
    /// (nil for the first), and that month's root: the chain across months
    /// starts at creation, so a missing month is noticed before sealing.
    public var previousMonth: UTCMonth?
    public var previousRoot: [UInt8]

    public init(month: UTCMonth, directoryID: [UInt8], previousMonth: UTCMonth? = nil, previousRoot: [UInt8] = [UInt8](repeating: 0, count: 32)) {
        precondition(directoryID.count == 16, "directory id of \(directoryID.count) bytes")
        precondition(previousRoot.count == 32 && (previousMonth.map { $0 < month } ?? previousRoot.allSatisfy { $0 == 0 }), "previous month link")
        self.month = month
        self.directoryID = directoryID
        self.previousMonth = previousMonth
        self.previousRoot = previousRoot
    }

    /// CRC seed of every record in the file: binds records to this
    /// directory and month.
    public var recordSeed: UInt32 {
        var bytes = directoryID
        bytes.append(UInt8(truncatingIfNeeded: month.year))
        bytes.append(UInt8(truncatingIfNeeded: month.year >> 8))
        bytes.append(UInt8(month.month))
        return Checksum.crc32c(bytes)
    }

    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: SegmentFormat.fileHeaderBytes)
        bytes.withUnsafeMutableBytes { p in
            for (i, b) in SegmentFormat.magic.enumerated() { p[i] = b }
            _LE.put(p, 8, UInt32(SegmentFormat.version))
            _LE.put(p, 12, UInt32(SegmentFormat.fileHeaderBytes))
            _LE.put(p, 16, UInt16(month.year))
            p[18] = UInt8(month.month)
            for (i, b) in directoryID.enumerated() { p[24 + i] = b }
            _LE.put(p, 40, UInt32(previousMonth.map { $0.number + 1 } ?? 0))
            for (i, b) in previousRoot.enumerated() { p[64 + i] = b }
            _LE.put(p, 124, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<124]))))
        }
        return bytes
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> SegmentFileHeader {
        try bytes.withUnsafeBytes { p in
            guard p.count >= SegmentFormat.fileHeaderUsedBytes, Array(p[0..<8]) == SegmentFormat.magic,
                Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<124]))) == _LE.u32(p, 124)
            else { throw LedgerError(.corruption, "segment header has a bad magic or checksum; run `ledgerctl verify`", path: path, offset: 0) }
            guard _LE.u32(p, 8) == UInt32(SegmentFormat.version) else {
                throw LedgerError(.unsupportedVersion, "segment format version \(_LE.u32(p, 8)) is not supported", path: path, offset: 8)
            }
            let year = Int(_LE.u16(p, 16))
            let month = Int(p[18])
            let previousNumber = Int(_LE.u32(p, 40))
            guard _LE.u32(p, 12) == UInt32(SegmentFormat.fileHeaderBytes), _LE.isZero(p, 19, 5), _LE.isZero(p, 44, 20), _LE.isZero(p, 96, 28),
                (1...12).contains(month), (1970...9999).contains(year)
            else { throw LedgerError(.corruption, "segment header has unexpected fields", path: path, offset: 12) }
            let this = UTCMonth(year: year, month: month)
            let previous = previousNumber == 0 ? nil : UTCMonth(checkedNumber: previousNumber - 1)
            guard previousNumber == 0 || previous != nil else {
                throw LedgerError(.corruption, "segment header links to month number \(previousNumber - 1), outside \(UTCMonth.years)", path: path, offset: 40)
            }
            let previousRoot = Array(p[64..<96])
            guard previous.map({ $0 < this }) ?? previousRoot.allSatisfy({ $0 == 0 }) else {
                throw LedgerError(.corruption, "segment header links to a month that is not earlier", path: path, offset: 40)
            }
            return SegmentFileHeader(month: this, directoryID: Array(p[24..<40]), previousMonth: previous, previousRoot: previousRoot)
        }
    }
}

/// One event record's header fields.
public struct SegmentRecordHeader: Sendable, Equatable {
    public var eventBytes: Int
    public var lsn: UInt64
    public var timestamp: UInt64
    public var crc: UInt32

    public var recordBytes: Int { SegmentFormat.recordHeaderBytes + eventBytes }

    /// Writes a record (header, then `event`) into `out`; returns its size.
    @discardableResult
    public static func encode(event: UnsafeRawBufferPointer, lsn: UInt64, timestamp: UInt64, seed: UInt32, into out: UnsafeMutableRawBufferPointer) -> Int {
        precondition(event.count % 8 == 0 && event.count <= SegmentFormat.eventBytesMax, "event of \(event.count) bytes")
        let total = SegmentFormat.recordHeaderBytes + event.count
        precondition(out.count >= total, "record buffer too small")
        _LE.put(out, 0, UInt32(event.count))
        out[4] = SegmentFormat.recordTypeEvent
        out[5] = SegmentFormat.version
        _LE.put(out, 6, UInt16(0))
        _LE.put(out, 8, lsn)
        _LE.put(out, 16, timestamp)
        _LE.put(out, 24, UInt32(0))
        UnsafeMutableRawBufferPointer(rebasing: out[SegmentFormat.recordHeaderBytes..<total]).copyMemory(from: event)
        let crc = computeCRC(UnsafeRawBufferPointer(rebasing: out[0..<total]), eventBytes: event.count, seed: seed)
        _LE.put(out, 28, crc)
        return total
    }

    static func computeCRC(_ record: UnsafeRawBufferPointer, eventBytes: Int, seed: UInt32) -> UInt32 {
        let crc = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: record[0..<28]), seed: seed)
        let start = SegmentFormat.recordHeaderBytes
        return Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: record[start..<(start + eventBytes)]), seed: crc))
    }

    /// The record at `offset` if it is valid on its own (structure, CRC and
    /// event structure); nil otherwise.
    public static func standalone(_ file: UnsafeRawBufferPointer, at offset: Int, seed: UInt32) -> SegmentRecordHeader? {
        guard offset + SegmentFormat.recordHeaderBytes <= file.count else { return nil }
        let eventBytes = Int(_LE.u32(file, offset))
        guard eventBytes > 0, eventBytes % 8 == 0, eventBytes <= SegmentFormat.eventBytesMax,
            file[offset + 4] == SegmentFormat.recordTypeEvent, file[offset + 5] == SegmentFormat.version,
            _LE.u16(file, offset + 6) == 0, _LE.u32(file, offset + 24) == 0,
            offset + SegmentFormat.recordHeaderBytes + eventBytes <= file.count
        else { return nil }
        let record = UnsafeRawBufferPointer(rebasing: file[offset..<(offset + SegmentFormat.recordHeaderBytes + eventBytes)])
        let crc = _LE.u32(file, offset + 28)
        guard computeCRC(record, eventBytes: eventBytes, seed: seed) == crc else { return nil }
        let event = UnsafeRawBufferPointer(rebasing: record[SegmentFormat.recordHeaderBytes...])
        guard EventBatchReader.eventSize(event, at: 0) == eventBytes else { return nil }
        return SegmentRecordHeader(eventBytes: eventBytes, lsn: _LE.u64(file, offset + 8), timestamp: _LE.u64(file, offset + 16), crc: crc)
    }
}
