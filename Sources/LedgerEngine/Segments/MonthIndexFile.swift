// The sealed month's index file, `segments/<YYYY>-<MM>.idx`: the
// MonthIndexBuilder's content in sorted, fixed-size tables that queries
// search with a few 4 KiB reads (accounts through fences kept in memory, an
// account's refs read whole), each block checked against its own CRC32C.
// See Specs/segment-format.md ("Index file"); the layout there is
// normative. The file is derived from the sealed segment (it names the
// month root it indexes) and is rebuilt when missing or damaged.

public enum MonthIndexFormat {
    /// Version 2: the month index's own magic (version 1 shared `LDGRIDX`
    /// with the balance index). A version-1 file is rebuilt from its segment.
    public static let version: UInt32 = 2
    public static let magic: [UInt8] = Array("LDGRMIX".utf8) + [0]
    public static let headerBytes = 4096
    public static let blockBytes = 4096
    static let accountBytes = 176
    static let eventRefBytes = 24
    static let checkpointBytes = 64
    static let entryBytes = 24
    /// Bloom filter: 16 bits per entry id, 7 probes in one 64-byte block.
    static let bloomBitsPerID = 16
    static let bloomBlockBytes = 64
    static let bloomProbes = 7

    /// The bloom filter's block and bit positions for an id. Unseeded: the
    /// filter is on disk and must mean the same to every process.
    static func bloomProbeBits(_ id: UInt128, blockCount: Int) -> (block: Int, bits: [Int]) {
        var h = UInt64(truncatingIfNeeded: id) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: id >> 64) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 31
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 29
        let block = Int(h % UInt64(blockCount))
        var g = h >> 32 | h << 32
        var bits: [Int] = []
        for _ in 0..<bloomProbes {
            g = g &* 0x94D0_49BB_1331_11EB &+ 0x2545_F491_4F6C_DD1D
            bits.append(Int(g >> 55))  // 0..<512
        }
        return (block, bits)
    }

    static func align8(_ n: Int) -> Int { (n + 7) & ~7 }

    /// Encodes the index of a sealed month.
    /// Throws `corruption` when the month holds an entry id twice.
    public static func encode(_ builder: MonthIndexBuilder, directoryID: [UInt8], monthRoot: [UInt8], recordCount: Int) throws -> [UInt8] {
        precondition(directoryID.count == 16 && monthRoot.count == 32, "directory id and root sizes")
        let accounts = builder.sortedAccounts()
        let entries = try builder.sortedEntries()
        let refCount = accounts.reduce(0) { $0 + $1.refs.count }
        let checkpointCount = accounts.reduce(0) { $0 + $1.checkpoints.count }
        let bloomBlocks = max(1, (entries.count * bloomBitsPerID + bloomBlockBytes * 8 - 1) / (bloomBlockBytes * 8))
        let accountsOffset = headerBytes
        let refsOffset = accountsOffset + accounts.count * accountBytes
        let checkpointsOffset = refsOffset + refCount * eventRefBytes
        let entriesOffset = checkpointsOffset + checkpointCount * checkpointBytes
        let bloomOffset = entriesOffset + entries.count * entryBytes
        let crcsOffset = bloomOffset + bloomBlocks * bloomBlockBytes
        let blockCount = (crcsOffset - headerBytes + blockBytes - 1) / blockBytes
        let fileBytes = crcsOffset + align8(blockCount * 4)
        var bytes = [UInt8](repeating: 0, count: fileBytes)
        bytes.withUnsafeMutableBytes { p in
            for (i, b) in magic.enumerated() { p[i] = b }
            _LE.put(p, 8, version)
            _LE.put(p, 12, UInt32(headerBytes))
            _LE.put(p, 16, UInt32(builder.month.number))
            _LE.put(p, 20, UInt32(blockBytes))
            for i in 0..<16 { p[24 + i] = directoryID[i] }
            for i in 0..<32 { p[40 + i] = monthRoot[i] }
            _LE.put(p, 72, UInt64(recordCount))
            _LE.put(p, 80, UInt64(accounts.count))
            _LE.put(p, 88, UInt64(refCount))
            _LE.put(p, 96, UInt64(checkpointCount))
            _LE.put(p, 104, UInt64(entries.count))
            _LE.put(p, 112, UInt64(bloomBlocks))
            _LE.put(p, 120, UInt32(MonthIndex.checkpointInterval))
            for (i, offset) in [accountsOffset, refsOffset, checkpointsOffset, entriesOffset, bloomOffset, crcsOffset, fileBytes].enumerated() {
                _LE.put(p, 128 + 8 * i, UInt64(offset))
            }
            putAccounts(accounts, into: p, accountsOffset: accountsOffset, refsOffset: refsOffset, checkpointsOffset: checkpointsOffset)
            for (e, (id, offset)) in entries.enumerated() {
                let o = entriesOffset + e * entryBytes
                _LE.put(p, o, id)
                _LE.put(p, o + 16, offset)
                let (block, bits) = bloomProbeBits(id, blockCount: bloomBlocks)
                for bit in bits { p[bloomOffset + block * bloomBlockBytes + bit / 8] |= UInt8(1 << (bit % 8)) }
            }
            for b in 0..<blockCount {
                let start = headerBytes + b * blockBytes
                let end = min(start + blockBytes, crcsOffset)
                _LE.put(p, crcsOffset + 4 * b, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[start..<end]))))
            }
            _LE.put(p, headerBytes - 4, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(headerBytes - 4)]))))
        }
        return bytes
    }
    /// The accounts table, with each account's event references and
    /// checkpoints in their own tables, in account order.
    private static func putAccounts(
        _ accounts: [MonthIndexBuilder.AccountIndex], into p: UnsafeMutableRawBufferPointer, accountsOffset: Int, refsOffset: Int, checkpointsOffset: Int
    ) {
        var refIndex = 0
        var checkpointIndex = 0
        for (a, account) in accounts.enumerated() {
            let o = accountsOffset + a * accountBytes
            let s = account.summary
            _LE.put(p, o, s.id)
            _LE.put(p, o + 16, UInt64(refIndex))
            _LE.put(p, o + 24, UInt64(s.eventCount))
            _LE.put(p, o + 32, UInt64(checkpointIndex))
            _LE.put(p, o + 40, s.ledger)
            _LE.put(p, o + 44, s.flags.rawValue)
            SegmentSeal.put(s.opening, p, o + 48)
            SegmentSeal.put(s.closing, p, o + 112)
            for ref in account.refs {
                let r = refsOffset + refIndex * eventRefBytes
                _LE.put(p, r, ref.timestamp)
                _LE.put(p, r + 8, ref.offset)
                _LE.put(p, r + 16, ref.pendingPosition.rawValue)
                refIndex += 1
            }
            for checkpoint in account.checkpoints {
                SegmentSeal.put(checkpoint, p, checkpointsOffset + checkpointIndex * checkpointBytes)
                checkpointIndex += 1
            }
        }
    }
}

/// A sealed month's index file, read block by block.
public final class MonthIndexFile: MonthIndexReading {
    public let month: UTCMonth
    public let monthRoot: [UInt8]
    public let path: String
    let file: any ReadableFile
    let recordCount: Int
    let accountCount: Int
    let refCount: Int
    let checkpointCount: Int
    let entryCount: Int
    let bloomBlocks: Int
    let accountsOffset: Int, refsOffset: Int, checkpointsOffset: Int, entriesOffset: Int, bloomOffset: Int, crcsOffset: Int
    let blockCRCs: [UInt32]
    /// The id of every `accountFenceStride`-th row of the accounts table,
    /// read on the first account lookup when the table is at most
    /// `accountFencesTableBytesMax` (nil before, or for a larger table: then
    /// a plain binary search). With them a lookup reads one stretch of rows
    /// (at most two blocks) instead of a block per step of the search, each
    /// a disk read when the page cache is cold (issue 13, target 6).
    private var accountFences: [UInt128]?
    static let accountFenceStride = MonthIndexFormat.blockBytes / MonthIndexFormat.accountBytes
    /// 16 MiB of accounts table (~95,000 accounts): read once per month
    /// and process; the fences then hold 16 B per 23 accounts.
    static let accountFencesTableBytesMax = 16 << 20
    /// An account's refs are read whole to find a moment among them when
    /// they are at most this long (~10,900 refs); longer ones are
    /// binary-searched a ref at a time.
    static let refsReadWholeBytesMax = 256 << 10

    /// Opens and checks the header and the block CRC table. Throws
    /// `corruption` when the file is damaged or indexes another month root.
    public init(storage: any Storage, path: String, month: UTCMonth, directoryID: [UInt8], monthRoot expectedRoot: [UInt8]) throws {
        self.path = path
        self.month = month
        file = try storage.openFileForReading(path)
        do {
            let size = try file.size()
            let h = try file.readExactly(MonthIndexFormat.headerBytes, at: 0)
            let fields: [Int]? = h.withUnsafeBytes { p in
                guard Array(p[0..<8]) == MonthIndexFormat.magic,
                    Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(MonthIndexFormat.headerBytes - 4)])))
                        == _LE.u32(p, MonthIndexFormat.headerBytes - 4),
                    _LE.u32(p, 8) == MonthIndexFormat.version, _LE.u32(p, 12) == UInt32(MonthIndexFormat.headerBytes),
                    _LE.u32(p, 16) == UInt32(month.number), _LE.u32(p, 20) == UInt32(MonthIndexFormat.blockBytes),
                    Array(p[24..<40]) == directoryID, _LE.u32(p, 120) == UInt32(MonthIndex.checkpointInterval)
                else { return nil }
                return (0..<6).map { _LE.size(p, 72 + 8 * $0) } + (0..<7).map { _LE.size(p, 128 + 8 * $0) }
            }
            if Array(h[0..<8]) == BalanceIndexFormat.legacyMagic {
                throw LedgerError(
                    .unsupportedVersion,
                    "month index format version 1 is not supported (this build writes \(MonthIndexFormat.version)); it is rebuilt from the segment", path: path,
                    offset: 8)
            }
            guard let fields else { throw LedgerError(.corruption, "index header is damaged or belongs elsewhere", path: path, offset: 0) }
            monthRoot = Array(h[40..<72])
            guard monthRoot == expectedRoot else {
                throw LedgerError(.corruption, "index was built for another version of \(month) (month root differs)", path: path, offset: 40)
            }
            (recordCount, accountCount, refCount, checkpointCount, entryCount, bloomBlocks) = (fields[0], fields[1], fields[2], fields[3], fields[4], fields[5])
            (accountsOffset, refsOffset, checkpointsOffset, entriesOffset, bloomOffset, crcsOffset) = (
                fields[6], fields[7], fields[8], fields[9], fields[10], fields[11]
            )
            let blockCount = (crcsOffset - MonthIndexFormat.headerBytes + MonthIndexFormat.blockBytes - 1) / MonthIndexFormat.blockBytes
            guard accountsOffset == MonthIndexFormat.headerBytes, refsOffset == accountsOffset + accountCount * MonthIndexFormat.accountBytes,
                checkpointsOffset == refsOffset + refCount * MonthIndexFormat.eventRefBytes,
                entriesOffset == checkpointsOffset + checkpointCount * MonthIndexFormat.checkpointBytes,
                bloomOffset == entriesOffset + entryCount * MonthIndexFormat.entryBytes, bloomBlocks >= 1,
                crcsOffset == bloomOffset + bloomBlocks * MonthIndexFormat.bloomBlockBytes,
                fields[12] == crcsOffset + MonthIndexFormat.align8(blockCount * 4), fields[12] == size
            else { throw LedgerError(.corruption, "index section offsets are inconsistent or the file is truncated", path: path, offset: 128) }
            let table = try file.readExactly(blockCount * 4, at: crcsOffset)
            blockCRCs = table.withUnsafeBytes { p in (0..<blockCount).map { _LE.u32(p, 4 * $0) } }
        } catch {
            file.close()
            throw error
        }
    }

    deinit { file.close() }

    /// Bytes `[offset, offset + count)` of the body, every covering block
    /// checked against its CRC.
    func read(_ offset: Int, _ count: Int) throws -> [UInt8] {
        try file.readCheckedBlocks(
            offset, count, region: MonthIndexFormat.headerBytes..<crcsOffset, blockBytes: MonthIndexFormat.blockBytes, blockCRCs: blockCRCs,
            what: "index block")
    }

    /// Binary search over a sorted table of `count` rows whose first 16
    /// bytes are an id; returns the matching row's bytes.
    func findRow(_ id: UInt128, table: Int, rowBytes: Int, count: Int) throws -> [UInt8]? {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            let row = try read(table + mid * rowBytes, rowBytes)
            let rowID = row.withUnsafeBytes { _LE.u128($0, 0) }
            if rowID == id { return row }
            if rowID < id { low = mid + 1 } else { high = mid }
        }
        return nil
    }

    public func account(_ id: UInt128) throws -> MonthAccount? {
        guard let row = try findAccountRow(id) else { return nil }
        let account = row.withUnsafeBytes { p in
            MonthAccount(
                id: id, ledger: _LE.u32(p, 40), flags: AccountFlags(rawValue: _LE.u16(p, 44)), opening: SegmentSeal.balances(p, 48),
                closing: SegmentSeal.balances(p, 112), eventCount: _LE.size(p, 24), eventRefStart: _LE.size(p, 16),
                checkpointStart: _LE.size(p, 32))
        }
        guard account.eventCount >= 1, account.eventRefStart + account.eventCount <= refCount,
            account.checkpointStart + account.eventCount / MonthIndex.checkpointInterval <= checkpointCount
        else { throw LedgerError(.corruption, "index row of account \(id) points outside its tables", path: path, offset: accountsOffset) }
        // A query reads the account's refs and a checkpoint next: ask for
        // both at once (one disk round trip, not two, when not cached).
        file.adviseWillNeed(
            offset: refsOffset + account.eventRefStart * MonthIndexFormat.eventRefBytes, count: account.eventCount * MonthIndexFormat.eventRefBytes)
        let checkpoints = account.eventCount / MonthIndex.checkpointInterval
        if checkpoints > 0 {
            file.adviseWillNeed(
                offset: checkpointsOffset + account.checkpointStart * MonthIndexFormat.checkpointBytes, count: checkpoints * MonthIndexFormat.checkpointBytes)
        }
        return account
    }

    /// The account's row: through the fences (one read of at most
    /// `accountFenceStride` rows), or a plain binary search.
    private func findAccountRow(_ id: UInt128) throws -> [UInt8]? {
        let rowBytes = MonthIndexFormat.accountBytes
        if accountFences == nil && accountCount * rowBytes <= Self.accountFencesTableBytesMax { accountFences = try readAccountFences() }
        guard let fences = accountFences else { return try findRow(id, table: accountsOffset, rowBytes: rowBytes, count: accountCount) }
        // The last fence ≤ id starts the only stretch that can hold it.
        var low = 0
        var high = fences.count
        while low < high {
            let mid = (low + high) / 2
            if fences[mid] <= id { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let first = (low - 1) * Self.accountFenceStride
        let count = min(Self.accountFenceStride, accountCount - first)
        let rows = try read(accountsOffset + first * rowBytes, count * rowBytes)
        let found = rows.withUnsafeBytes { p in (0..<count).first { _LE.u128(p, $0 * rowBytes) == id } }
        return found.map { Array(rows[($0 * rowBytes)..<(($0 + 1) * rowBytes)]) }
    }

    /// Every `accountFenceStride`-th account id, from one read of the table
    /// (every block checked); throws `corruption` when the ids are not in
    /// strictly increasing order (the search relies on it).
    private func readAccountFences() throws -> [UInt128] {
        guard accountCount > 0 else { return [] }
        let rowBytes = MonthIndexFormat.accountBytes
        let table = try read(accountsOffset, accountCount * rowBytes)
        return try table.withUnsafeBytes { p in
            var previous: UInt128?
            var fences: [UInt128] = []
            fences.reserveCapacity(accountCount / Self.accountFenceStride + 1)
            for row in 0..<accountCount {
                let id = _LE.u128(p, row * rowBytes)
                if let previous, previous >= id {
                    throw LedgerError(
                        .corruption, "index accounts are not in id order at row \(row); run `ledgerctl verify`", path: path,
                        offset: accountsOffset + row * rowBytes)
                }
                previous = id
                if row % Self.accountFenceStride == 0 { fences.append(id) }
            }
            return fences
        }
    }

    /// Index of the account's first event with timestamp ≥ `timestampNs`:
    /// its refs read in one piece when short enough (one disk read instead
    /// of one per step of the search), else the search a ref at a time.
    public func firstEvent(of account: MonthAccount, atOrAfter timestampNs: UInt64) throws -> Int {
        guard account.eventCount * MonthIndexFormat.eventRefBytes <= Self.refsReadWholeBytesMax else {
            return try firstEventByProbes(of: account, atOrAfter: timestampNs)
        }
        let refs = try eventRefs(of: account, 0..<account.eventCount)
        var low = 0
        var high = refs.count
        while low < high {
            let mid = (low + high) / 2
            if refs[mid].timestamp < timestampNs { low = mid + 1 } else { high = mid }
        }
        return low
    }

    public func eventRefs(of account: MonthAccount, _ range: Range<Int>) throws -> [AccountEventRef] {
        precondition(range.lowerBound >= 0 && range.upperBound <= account.eventCount, "event range \(range)")
        guard !range.isEmpty else { return [] }
        let bytes = try read(
            refsOffset + (account.eventRefStart + range.lowerBound) * MonthIndexFormat.eventRefBytes, range.count * MonthIndexFormat.eventRefBytes)
        let refs = bytes.withUnsafeBytes { p in
            (0..<range.count).map { i in
                let o = i * MonthIndexFormat.eventRefBytes
                return AccountEventRef(timestamp: _LE.u64(p, o), offset: _LE.u64(p, o + 8), pendingPosition: SegmentPosition(rawValue: _LE.u64(p, o + 16)))
            }
        }
        guard refs.allSatisfy({ $0.pendingPosition.isValid }) else {
            throw LedgerError(
                .corruption, "index event reference names a month outside \(UTCMonth.years); run `ledgerctl verify`", path: path, offset: refsOffset)
        }
        return refs
    }

    public func checkpoint(of account: MonthAccount, _ j: Int) throws -> AccountBalances {
        precondition(j >= 0 && j < account.eventCount / MonthIndex.checkpointInterval, "checkpoint \(j)")
        return try read(checkpointsOffset + (account.checkpointStart + j) * MonthIndexFormat.checkpointBytes, MonthIndexFormat.checkpointBytes)
            .withUnsafeBytes { SegmentSeal.balances($0, 0) }
    }

    /// False means the id is certainly not in this month.
    public func mightContainEntry(_ id: UInt128) throws -> Bool {
        let (block, bits) = MonthIndexFormat.bloomProbeBits(id, blockCount: bloomBlocks)
        let bytes = try read(bloomOffset + block * MonthIndexFormat.bloomBlockBytes, MonthIndexFormat.bloomBlockBytes)
        return bits.allSatisfy { bytes[$0 / 8] & UInt8(1 << ($0 % 8)) != 0 }
    }

    /// Every entry id of the month, in id order (for the engine's filter of
    /// evicted ids), read a few blocks at a time.
    public func forEachEntryID(_ body: (UInt128) -> Void) throws {
        let rowsPerRead = 4096
        var row = 0
        while row < entryCount {
            let n = min(rowsPerRead, entryCount - row)
            let bytes = try read(entriesOffset + row * MonthIndexFormat.entryBytes, n * MonthIndexFormat.entryBytes)
            bytes.withUnsafeBytes { p in
                for i in 0..<n { body(_LE.u128(p, i * MonthIndexFormat.entryBytes)) }
            }
            row += n
        }
    }

    public func entryOffset(_ id: UInt128) throws -> Int? {
        guard try mightContainEntry(id) else { return nil }
        return try findRow(id, table: entriesOffset, rowBytes: MonthIndexFormat.entryBytes, count: entryCount)
            .map { $0.withUnsafeBytes { _LE.size($0, 16) } }
    }
}
