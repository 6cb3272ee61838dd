// Snapshot files: the state machine's complete state at an LSN, so recovery
// replays only the WAL after it and older WAL files can be deleted. See
// Specs/snapshot-format.md; the tables there are normative.
//
// A snapshot is derived: the log (and the segments) can always rebuild it.
// It is written to a temporary file, fdatasync'd, renamed and the directory
// fsync'd; its body is covered by SHA-256 and its header by CRC32C, so a
// damaged snapshot is never loaded (recovery falls back to the previous one).

public enum SnapshotFormat {
    /// 2: accounts are stored as balance-index slots (128 bytes).
    /// 3: the header records the resident window's start (entry records
    /// before it were evicted; StateMachine/ResidentWindow.swift).
    /// 4: the filter of evicted ids follows the holds (version 3 files
    /// still load; their filter is rebuilt from the sealed months).
    /// 5: entry fingerprints are 56 bits (Fingerprint.swift; the top 8 bits
    /// are written as zero; versions 3 and 4, which stored all 64, still
    /// load, the top 8 bits ignored: an older engine refuses a version 5
    /// file instead of comparing 64 bits against 56).
    public static let version: UInt32 = 5
    static let versionsRead: ClosedRange<UInt32> = 3...5
    public static let magic: [UInt8] = Array("LDGRSNAP".utf8)
    public static let headerBytes = 4096
    static let accountBytes = BalanceIndexFormat.slotBytes
    static let entryBytes = 40
    static let holdBytes = 32
    static let holdPostingBytes = 32
    static let filterBlockBytes = EvictedIDFilter.blockBytes
    /// The most ids a stored filter may be sized for (a bound on the bytes
    /// a damaged header can make recovery allocate: 2^36 ids, 128 GiB).
    static let filterCapacityMax = 1 << 36
    /// Snapshots kept: the newest, and the one before it as the fallback.
    /// WAL is retained from the older one's LSN on.
    public static let retained = 2
}

/// The body records after the account slots (Specs/snapshot-format.md,
/// "Body"): their field offsets, writers and readers side by side.
enum SnapshotRecord {
    // An entry (SnapshotFormat.entryBytes): id, fingerprint, timestamp,
    // kind, hold state, 6 zero bytes.
    static let entryIDOffset = 0  // u128
    static let entryFingerprintOffset = 16  // u64
    static let entryTimestampOffset = 24  // u64
    static let entryKindOffset = 32  // u8
    static let entryHoldStateOffset = 33  // u8
    static let entryZeroOffset = 34  // 6 bytes
    // An open hold (SnapshotFormat.holdBytes): id, expiry, posting count, 4 zero bytes.
    static let holdIDOffset = 0  // u128
    static let holdExpiresAtOffset = 16  // u64
    static let holdPostingCountOffset = 24  // u32
    // A hold posting (SnapshotFormat.holdPostingBytes): slot, side, 11 zero bytes, amount.
    static let postingSlotOffset = 0  // u32
    static let postingSideOffset = 4  // u8
    static let postingAmountOffset = 16  // u128

    /// `idLow` and `idHigh`: the id's halves as the id table stores them.
    static func putEntry(_ p: UnsafeMutableRawBufferPointer, idLow: UInt64, idHigh: UInt64, _ record: EntryRecord) {
        _LE.put(p, entryIDOffset, idLow)
        _LE.put(p, entryIDOffset + 8, idHigh)
        _LE.put(p, entryFingerprintOffset, record.fingerprint)
        _LE.put(p, entryTimestampOffset, record.timestamp)
        p[entryKindOffset] = record.kind.rawValue
        p[entryHoldStateOffset] = record.holdState.rawValue
    }

    /// The entry and whether its kind, hold state and zero bytes are valid.
    static func entry(_ p: UnsafeRawBufferPointer) -> (id: UInt128, record: EntryRecord, valid: Bool) {
        let state = EntryRecord.HoldState(rawValue: p[entryHoldStateOffset])
        let record = EntryRecord(
            fingerprint: _LE.u64(p, entryFingerprintOffset), timestamp: _LE.u64(p, entryTimestampOffset),
            kind: EntryKind(rawValue: p[entryKindOffset]), holdState: state ?? .notAHold)
        return (_LE.u128(p, entryIDOffset), record, state != nil && p[entryKindOffset] <= 3 && _LE.isZero(p, entryZeroOffset, 6))
    }

    static func putHold(_ p: UnsafeMutableRawBufferPointer, id: UInt128, expiresAtNs: UInt64, postingCount: Int) {
        _LE.put(p, holdIDOffset, id)
        _LE.put(p, holdExpiresAtOffset, expiresAtNs)
        _LE.put(p, holdPostingCountOffset, UInt32(postingCount))
    }

    static func hold(_ p: UnsafeRawBufferPointer) -> (id: UInt128, expiresAtNs: UInt64, postingCount: Int) {
        (_LE.u128(p, holdIDOffset), _LE.u64(p, holdExpiresAtOffset), Int(_LE.u32(p, holdPostingCountOffset)))
    }

    static func putHoldPosting(_ p: UnsafeMutableRawBufferPointer, _ posting: HoldPosting) {
        _LE.put(p, postingSlotOffset, UInt32(bitPattern: posting.slot))
        p[postingSideOffset] = posting.side.rawValue
        _LE.put(p, postingAmountOffset, posting.amount)
    }

    static func holdPosting(_ p: UnsafeRawBufferPointer) -> HoldPosting {
        HoldPosting(
            slot: Int32(bitPattern: _LE.u32(p, postingSlotOffset)), side: Side(rawValue: p[postingSideOffset]), amount: _LE.u128(p, postingAmountOffset))
    }
}

/// What a snapshot header says.
public struct SnapshotHeader: Sendable, Equatable {
    public var lsn: UInt64
    public var lastTimestamp: UInt64
    public var directoryID: [UInt8]
    public var accountCount: Int
    public var entryCount: Int
    public var holdCount: Int
    public var holdPostingCount: Int
    public var bodyBytes: Int
    /// The WAL hash chain head after record `lsn`.
    public var chainHead: [UInt8]
    public var bodySHA256: [UInt8]
    /// Entry records older than this were evicted (0: none).
    public var residentSinceNs: UInt64 = 0
    /// The last event that succeeded (the resident window follows it).
    public var lastAppliedTimestamp: UInt64 = 0
    /// The stored filter of evicted ids (version 4; all zero: none stored).
    public var filterSeed: UInt64 = 0
    public var filterCapacity = 0
    public var filterIDCount = 0
    public var filterBlockCount = 0

    /// Body bytes the counts describe.
    var describedBodyBytes: Int {
        accountCount * SnapshotFormat.accountBytes + entryCount * SnapshotFormat.entryBytes + holdCount * SnapshotFormat.holdBytes + holdPostingCount
            * SnapshotFormat.holdPostingBytes + filterBlockCount * SnapshotFormat.filterBlockBytes
    }

    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: SnapshotFormat.headerBytes)
        bytes.withUnsafeMutableBytes { p in
            for (i, b) in SnapshotFormat.magic.enumerated() { p[i] = b }
            _LE.put(p, 8, SnapshotFormat.version)
            _LE.put(p, 12, UInt32(SnapshotFormat.headerBytes))
            _LE.put(p, 16, lsn)
            _LE.put(p, 24, lastTimestamp)
            for i in 0..<16 { p[32 + i] = directoryID[i] }
            _LE.put(p, 48, UInt64(accountCount))
            _LE.put(p, 56, UInt64(entryCount))
            _LE.put(p, 64, UInt64(holdCount))
            _LE.put(p, 72, UInt64(holdPostingCount))
            _LE.put(p, 80, UInt64(bodyBytes))
            for i in 0..<32 {
                p[88 + i] = chainHead[i]
                p[120 + i] = bodySHA256[i]
            }
            _LE.put(p, 152, residentSinceNs)
            _LE.put(p, 160, lastAppliedTimestamp)
            _LE.put(p, 168, filterSeed)
            _LE.put(p, 176, UInt64(filterCapacity))
            _LE.put(p, 184, UInt64(filterIDCount))
            _LE.put(p, 192, UInt64(filterBlockCount))
            _LE.put(
                p, SnapshotFormat.headerBytes - 4, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(SnapshotFormat.headerBytes - 4)]))))
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> SnapshotHeader {
        try bytes.withUnsafeBytes { p in
            guard p.count == SnapshotFormat.headerBytes, Array(p[0..<8]) == SnapshotFormat.magic,
                Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(SnapshotFormat.headerBytes - 4)])))
                    == _LE.u32(p, SnapshotFormat.headerBytes - 4)
            else { throw LedgerError(.corruption, "snapshot header has a bad magic or checksum", path: path, offset: 0) }
            guard SnapshotFormat.versionsRead.contains(_LE.u32(p, 8)) else {
                throw LedgerError(.unsupportedVersion, "snapshot format version \(_LE.u32(p, 8)) is not supported", path: path, offset: 8)
            }
            guard _LE.u32(p, 12) == UInt32(SnapshotFormat.headerBytes), _LE.isZero(p, 200, SnapshotFormat.headerBytes - 4 - 200) else {
                throw LedgerError(.corruption, "snapshot header has unexpected fields", path: path, offset: 12)
            }
            let header = SnapshotHeader(
                lsn: _LE.u64(p, 16), lastTimestamp: _LE.u64(p, 24), directoryID: Array(p[32..<48]), accountCount: _LE.size(p, 48),
                entryCount: _LE.size(p, 56), holdCount: _LE.size(p, 64), holdPostingCount: _LE.size(p, 72),
                bodyBytes: _LE.size(p, 80), chainHead: Array(p[88..<120]), bodySHA256: Array(p[120..<152]), residentSinceNs: _LE.u64(p, 152),
                lastAppliedTimestamp: _LE.u64(p, 160), filterSeed: _LE.u64(p, 168), filterCapacity: _LE.size(p, 176), filterIDCount: _LE.size(p, 184),
                filterBlockCount: _LE.size(p, 192))
            try header.checkFilterFields(path: path)
            guard _LE.u32(p, 8) >= 4 || header.filterBlockCount == 0 else {
                throw LedgerError(.corruption, "a version 3 snapshot header describes a filter of evicted ids", path: path, offset: 168)
            }
            guard header.residentSinceNs <= header.lastAppliedTimestamp, header.lastAppliedTimestamp <= header.lastTimestamp else {
                throw LedgerError(.corruption, "snapshot header's resident window starts after its last event", path: path, offset: 152)
            }
            guard header.accountCount <= Limits.accountsMax, header.entryCount < 1 << 40, header.holdCount <= header.entryCount,
                header.holdPostingCount < 1 << 40, header.bodyBytes == header.describedBodyBytes
            else { throw LedgerError(.corruption, "snapshot header counts and body size disagree", path: path, offset: 48) }
            return header
        }
    }
}

extension SnapshotHeader {
    /// Filter fields: all zero (none stored), or a capacity within the
    /// limit, an id count within it, and the block count the capacity gives.
    fileprivate func checkFilterFields(path: String) throws {
        if filterBlockCount == 0 {
            guard filterSeed == 0, filterCapacity == 0, filterIDCount == 0 else {
                throw LedgerError(.corruption, "snapshot header describes a filter of evicted ids without blocks", path: path, offset: 168)
            }
            return
        }
        guard filterCapacity > 0, filterCapacity <= SnapshotFormat.filterCapacityMax, filterIDCount <= filterCapacity,
            filterBlockCount == EvictedIDFilter.blockCount(capacity: filterCapacity)
        else { throw LedgerError(.corruption, "snapshot header's filter of evicted ids has inconsistent sizes", path: path, offset: 168) }
    }
}

/// Streams bytes to a file in 1 MiB writes, hashing them.
final class SnapshotStreamWriter {
    let file: any StorageFile
    var offset: Int
    var buffer: [UInt8] = []
    let hasher = SHA256Hasher()
    static let chunkBytes = 1 << 20

    init(file: any StorageFile, at offset: Int) {
        self.file = file
        self.offset = offset
        buffer.reserveCapacity(Self.chunkBytes)
    }

    func append(_ body: (UnsafeMutableRawBufferPointer) -> Void, bytes: Int) throws {
        if buffer.count + bytes > Self.chunkBytes { try flush() }
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: bytes))
        buffer.withUnsafeMutableBytes { body(UnsafeMutableRawBufferPointer(rebasing: $0[start..<(start + bytes)])) }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { hasher.update($0) }
        try file.write(buffer, at: offset)
        offset += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Reads a file sequentially in 1 MiB reads, hashing them.
final class SnapshotStreamReader {
    let file: any ReadableFile
    var offset: Int
    let end: Int
    var buffer: [UInt8] = []
    var position = 0
    let hasher = SHA256Hasher()

    init(file: any ReadableFile, from offset: Int, end: Int) {
        self.file = file
        self.offset = offset
        self.end = end
    }

    /// The next `bytes` bytes.
    func next<T>(_ bytes: Int, _ body: (UnsafeRawBufferPointer) -> T) throws -> T {
        if position + bytes > buffer.count {
            let rest = Array(buffer[position...])
            let want = min(max(SnapshotStreamWriter.chunkBytes, bytes), end - offset)
            let chunk = try file.readExactly(want, at: offset)
            chunk.withUnsafeBytes { hasher.update($0) }
            offset += want
            buffer = rest + chunk
            position = 0
            guard bytes <= buffer.count else {
                throw LedgerError(.corruption, "snapshot body ends early", path: file.path, offset: offset)
            }
        }
        defer { position += bytes }
        return buffer.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[position..<(position + bytes)])) }
    }
}
