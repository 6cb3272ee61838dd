// The memory-mapped balance index: one 128-byte slot per account, two
// alternating checksummed headers. See Specs/balance-index.md.
//
// Entry points: `BalanceIndex.open` (validates, or reports why it must be
// rebuilt), `write(account:slot:lsn:)` after a group is durable,
// `checkpoint(lsn:)`, `readSlot` for verify.
//
// The mapping's raw pointer never leaves this file.

public enum BalanceIndexFormat {
    /// Version 2: the index's own magic (version 1 shared `LDGRIDX` with the
    /// month index). A version-1 index is rebuilt from the log (it is a cache).
    public static let version: UInt32 = 2
    public static let magic: [UInt8] = Array("LDGRBIX".utf8) + [0]
    /// Version 1's magic, shared with the month index: recognised only to say
    /// why such an index is rebuilt.
    static let legacyMagic: [UInt8] = Array("LDGRIDX".utf8) + [0]
    public static let headerPageBytes = 4096
    public static let slotsOffset = 2 * headerPageBytes
    public static let slotBytes = 128
    public static let initialSlotCapacity = 1024

    public static func fileBytes(slotCapacity: Int) -> Int { slotsOffset + slotCapacity * slotBytes }

    /// Encodes `account` as a slot into `p` (128 bytes).
    public static func encodeSlot(_ account: Account, lsn: UInt64, into p: UnsafeMutableRawBufferPointer) {
        precondition(p.count == slotBytes, "slot buffer of \(p.count) bytes")
        _LE.put(p, 0, account.id)
        _LE.put(p, 16, account.userData)
        _LE.put(p, 32, account.debitsPosted)
        _LE.put(p, 48, account.creditsPosted)
        _LE.put(p, 64, account.debitsPending)
        _LE.put(p, 80, account.creditsPending)
        _LE.put(p, 96, account.ledger)
        _LE.put(p, 100, account.code)
        _LE.put(p, 102, account.flags.rawValue)
        _LE.put(p, 104, account.timestamp)
        _LE.put(p, 112, lsn)
        _LE.put(p, 120, UInt32(0))
        _LE.put(p, 124, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<124]))))
    }

    /// Decodes a slot; nil when its CRC or reserved field is wrong.
    public static func decodeSlot(_ p: UnsafeRawBufferPointer) -> (account: Account, lsn: UInt64)? {
        precondition(p.count == slotBytes, "slot buffer of \(p.count) bytes")
        guard _LE.u32(p, 120) == 0,
            Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<124]))) == _LE.u32(p, 124)
        else { return nil }
        var account = Account(
            id: _LE.u128(p, 0), userData: _LE.u128(p, 16), ledger: _LE.u32(p, 96), code: _LE.u16(p, 100),
            flags: AccountFlags(rawValue: _LE.u16(p, 102)), timestamp: _LE.u64(p, 104))
        account.debitsPosted = _LE.u128(p, 32)
        account.creditsPosted = _LE.u128(p, 48)
        account.debitsPending = _LE.u128(p, 64)
        account.creditsPending = _LE.u128(p, 80)
        return (account, _LE.u64(p, 112))
    }

    struct Header: Equatable {
        var slotCapacity: Int
        var generation: UInt64
        var checkpointLSN: UInt64
        var accountCount: Int
        var directoryID: [UInt8]

        func encode(into p: UnsafeMutableRawBufferPointer) {
            for i in 0..<128 { p[i] = 0 }
            for (i, b) in magic.enumerated() { p[i] = b }
            _LE.put(p, 8, version)
            _LE.put(p, 12, UInt32(slotBytes))
            _LE.put(p, 16, UInt64(slotCapacity))
            _LE.put(p, 24, generation)
            _LE.put(p, 32, checkpointLSN)
            _LE.put(p, 40, UInt64(accountCount))
            for (i, b) in directoryID.enumerated() { p[48 + i] = b }
            _LE.put(p, 124, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<124]))))
        }

        static func decode(_ p: UnsafeRawBufferPointer) -> Header? {
            guard Array(p[0..<8]) == magic, _LE.u32(p, 8) == version, _LE.u32(p, 12) == UInt32(slotBytes),
                _LE.isZero(p, 64, 60),
                Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<124]))) == _LE.u32(p, 124)
            else { return nil }
            return Header(
                slotCapacity: _LE.size(p, 16), generation: _LE.u64(p, 24), checkpointLSN: _LE.u64(p, 32),
                accountCount: _LE.size(p, 40), directoryID: Array(p[48..<64]))
        }
    }
}

public final class BalanceIndex {
    let storage: any Storage
    let path: String
    let directoryID: [UInt8]
    private var file: any StorageFile
    private var mapping: any StorageMapping
    private var header: BalanceIndexFormat.Header
    /// Which header page (0 or 1) holds `header`.
    private var activeHeaderPage: Int
    /// Lowest and highest slot written since the last checkpoint (for msync).
    private var dirtyLow = Int.max
    private var dirtyHigh = -1

    public var checkpointLSN: UInt64 { header.checkpointLSN }
    public var accountCount: Int { header.accountCount }
    public var slotCapacity: Int { header.slotCapacity }

    private init(
        storage: any Storage, path: String, directoryID: [UInt8], file: any StorageFile, mapping: any StorageMapping, header: BalanceIndexFormat.Header,
        activeHeaderPage: Int
    ) {
        self.storage = storage
        self.path = path
        self.directoryID = directoryID
        self.file = file
        self.mapping = mapping
        self.header = header
        self.activeHeaderPage = activeHeaderPage
    }

    deinit {
        mapping.unmap()
        file.close()
    }

    public enum OpenOutcome {
        case valid(BalanceIndex)
        /// The index cannot be used; `reason` says why (for the log line).
        case mustRebuild(reason: String)
    }

    /// Opens and validates an existing index.
    public static func open(storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], walLastLSN: UInt64) throws -> OpenOutcome {
        let path = layout.indexPath
        guard storage.fileExists(path) else { return .mustRebuild(reason: "index file is missing") }
        let file = try storage.openFile(path, create: false)
        let (header, page): (BalanceIndexFormat.Header, Int)
        switch try validHeader(file, directoryID: directoryID, walLastLSN: walLastLSN) {
        case .failure(let reason):
            file.close()
            return .mustRebuild(reason: reason.text)
        case .success(let found):
            (header, page) = found
        }
        let mapping = try file.map(size: try file.size())
        let index = BalanceIndex(storage: storage, path: path, directoryID: directoryID, file: file, mapping: mapping, header: header, activeHeaderPage: page)
        if let reason = firstBadSlot(header.accountCount, walLastLSN: walLastLSN, read: index.readSlot) { return .mustRebuild(reason: reason) }
        return .valid(index)
    }

    /// The index's slots read without mapping or writing (for `verify`, which
    /// must work on a read-only mount): `.failure` says why the index is
    /// unusable, as `open` would.
    public static func readSlots(
        storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], walLastLSN: UInt64
    ) throws -> Result<[(account: Account, lsn: UInt64)?], UnusableIndex> {
        guard storage.fileExists(layout.indexPath) else { return .failure(UnusableIndex(text: "index file is missing")) }
        let file = try storage.openFileForReading(layout.indexPath)
        defer { file.close() }
        switch try validHeader(file, directoryID: directoryID, walLastLSN: walLastLSN) {
        case .failure(let reason): return .failure(reason)
        case .success(let (header, _)):
            let bytes = try file.readExactly(header.accountCount * BalanceIndexFormat.slotBytes, at: BalanceIndexFormat.slotsOffset)
            return .success(
                bytes.withUnsafeBytes { raw in
                    (0..<header.accountCount).map { slot in
                        let start = slot * BalanceIndexFormat.slotBytes
                        return BalanceIndexFormat.decodeSlot(UnsafeRawBufferPointer(rebasing: raw[start..<(start + BalanceIndexFormat.slotBytes)]))
                    }
                })
        }
    }

    public struct UnusableIndex: Error {
        public var text: String
    }

    /// The valid header with the higher generation and its page, if it
    /// belongs to this directory, matches the file's size and does not claim
    /// more than the WAL holds.
    private static func validHeader(
        _ file: any ReadableFile, directoryID: [UInt8], walLastLSN: UInt64
    ) throws -> Result<(BalanceIndexFormat.Header, Int), UnusableIndex> {
        let size = try file.size()
        guard size >= BalanceIndexFormat.slotsOffset else { return .failure(UnusableIndex(text: "index file is \(size) bytes, shorter than its headers")) }
        let headers = try file.readExactly(BalanceIndexFormat.slotsOffset, at: 0)
        var best: (BalanceIndexFormat.Header, Int)?
        headers.withUnsafeBytes { raw in
            for page in 0..<2 {
                let start = page * BalanceIndexFormat.headerPageBytes
                if let h = BalanceIndexFormat.Header.decode(UnsafeRawBufferPointer(rebasing: raw[start..<(start + 128)])),
                    h.generation > (best?.0.generation ?? 0) || best == nil
                {
                    best = (h, page)
                }
            }
        }
        guard let (header, page) = best else {
            if Array(headers[0..<8]) == BalanceIndexFormat.legacyMagic {
                return .failure(
                    UnusableIndex(
                        text:
                            "index format version \(headers.withUnsafeBytes { _LE.u32($0, 8) }) is not supported (this build writes \(BalanceIndexFormat.version))"
                    ))
            }
            return .failure(UnusableIndex(text: "neither index header is valid"))
        }
        guard header.directoryID == directoryID else { return .failure(UnusableIndex(text: "index belongs to another data directory")) }
        guard size == BalanceIndexFormat.fileBytes(slotCapacity: header.slotCapacity), header.accountCount <= header.slotCapacity else {
            return .failure(UnusableIndex(text: "index size \(size) does not match its header (capacity \(header.slotCapacity))"))
        }
        guard header.checkpointLSN <= walLastLSN else {
            return .failure(UnusableIndex(text: "index checkpoint LSN \(header.checkpointLSN) is beyond the WAL's last LSN \(walLastLSN)"))
        }
        return .success((header, page))
    }

    private static func firstBadSlot(_ count: Int, walLastLSN: UInt64, read: (Int) -> (account: Account, lsn: UInt64)?) -> String? {
        for slot in 0..<count {
            guard let (_, lsn) = read(slot) else {
                return "slot \(slot) at offset \(BalanceIndexFormat.slotsOffset + slot * BalanceIndexFormat.slotBytes) fails its checksum"
            }
            guard lsn <= walLastLSN else { return "slot \(slot) claims LSN \(lsn), beyond the WAL's last LSN \(walLastLSN)" }
        }
        return nil
    }

    /// Creates a fresh, empty index (replacing any existing file) through a
    /// temporary file: zeros, headers, fdatasync, rename, fsync directory.
    public static func create(storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], slotCapacity: Int) throws -> BalanceIndex {
        let temporary = DataDirectoryLayout.temporaryPath(for: layout.indexPath)
        if storage.fileExists(temporary) { try storage.removeFile(temporary) }
        let file = try storage.openFile(temporary, create: true)
        let size = BalanceIndexFormat.fileBytes(slotCapacity: slotCapacity)
        try file.writeZeros(at: 0, count: size)
        let header = BalanceIndexFormat.Header(slotCapacity: slotCapacity, generation: 1, checkpointLSN: 0, accountCount: 0, directoryID: directoryID)
        var page = [UInt8](repeating: 0, count: 128)
        page.withUnsafeMutableBytes { header.encode(into: $0) }
        try file.write(page, at: 0)
        try file.sync()
        try storage.rename(temporary, to: layout.indexPath)
        try storage.syncDirectory(layout.root)
        let mapping = try file.map(size: size)
        return BalanceIndex(
            storage: storage, path: layout.indexPath, directoryID: directoryID, file: file, mapping: mapping, header: header, activeHeaderPage: 0)
    }

    /// The account in `slot` and its slot LSN, or nil when the slot's CRC fails.
    public func readSlot(_ slot: Int) -> (account: Account, lsn: UInt64)? {
        precondition(slot >= 0 && slot < header.slotCapacity, "slot \(slot) outside capacity \(header.slotCapacity)")
        let start = BalanceIndexFormat.slotsOffset + slot * BalanceIndexFormat.slotBytes
        return BalanceIndexFormat.decodeSlot(UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + BalanceIndexFormat.slotBytes)]))
    }

    /// Writes `account` into `slot`. Call only after the WAL is durable
    /// through `lsn`. Grows the file when `slot` is beyond the capacity.
    public func write(_ account: Account, slot: Int, lsn: UInt64) throws {
        precondition(slot <= header.accountCount, "slot \(slot) skips past account count \(header.accountCount)")
        if slot >= header.slotCapacity { try grow(toAtLeast: slot + 1) }
        let start = BalanceIndexFormat.slotsOffset + slot * BalanceIndexFormat.slotBytes
        BalanceIndexFormat.encodeSlot(
            account, lsn: lsn, into: UnsafeMutableRawBufferPointer(rebasing: mapping.bytes[start..<(start + BalanceIndexFormat.slotBytes)]))
        if slot == header.accountCount { header.accountCount += 1 }
        dirtyLow = min(dirtyLow, slot)
        dirtyHigh = max(dirtyHigh, slot)
    }

    private func grow(toAtLeast slots: Int) throws {
        var capacity = header.slotCapacity
        while capacity < slots { capacity *= 2 }
        precondition(capacity <= Limits.accountsMax * 2, "index capacity \(capacity) beyond the account limit")
        // Persist what is mapped before unmapping, then extend with zeros.
        try checkpointSlots()
        mapping.unmap()
        let oldBytes = BalanceIndexFormat.fileBytes(slotCapacity: header.slotCapacity)
        let newBytes = BalanceIndexFormat.fileBytes(slotCapacity: capacity)
        try file.writeZeros(at: oldBytes, count: newBytes - oldBytes)
        try file.sync()
        mapping = try file.map(size: newBytes)
        header.slotCapacity = capacity
        try writeHeader()
    }

    private func checkpointSlots() throws {
        if dirtyHigh >= dirtyLow {
            let start = BalanceIndexFormat.slotsOffset + dirtyLow * BalanceIndexFormat.slotBytes
            let end = BalanceIndexFormat.slotsOffset + (dirtyHigh + 1) * BalanceIndexFormat.slotBytes
            try mapping.sync(offset: start, count: end - start)
        }
        dirtyLow = Int.max
        dirtyHigh = -1
    }

    private func writeHeader() throws {
        header.generation += 1
        let page = 1 - activeHeaderPage
        let start = page * BalanceIndexFormat.headerPageBytes
        header.encode(into: UnsafeMutableRawBufferPointer(rebasing: mapping.bytes[start..<(start + 128)]))
        try mapping.sync(offset: start, count: 128)
        activeHeaderPage = page
    }

    /// Makes every slot written so far durable, then records `lsn` as the
    /// checkpoint in the inactive header. The WAL must be durable through `lsn`.
    public func checkpoint(lsn: UInt64) throws {
        precondition(lsn >= header.checkpointLSN, "checkpoint LSN \(lsn) below \(header.checkpointLSN)")
        try checkpointSlots()
        header.checkpointLSN = lsn
        try writeHeader()
    }

    public func close() {
        mapping.unmap()
        file.close()
    }
}
