// `ledger.meta`: marks a directory as a ledger and fixes its identity, WAL
// file size and resident window. 64 bytes: magic "LDGRMETA", version u32,
// WAL file bytes u32 (in KiB), directory id (16 random bytes), resident
// window months u32 (version 2; version 1 means 2), reserved, masked CRC32C
// of 0–59 (Specs/ledger-meta.md). Written once by `Ledger.initialize`
// through tmp + fsync + rename + fsync dir.
public struct DataDirectoryMeta: Sendable, Equatable {
    static let magic: [UInt8] = Array("LDGRMETA".utf8)
    /// Written by this build; version 1 (no window field) is still read.
    static let version: UInt32 = 2
    /// The windows a directory may fix (StateMachine/ResidentWindow.swift).
    public static let residentWindowMonthsAllowed: ClosedRange<Int> = 1...2
    public var walFileBytes: Int
    public var directoryID: [UInt8]
    /// Months of entry records the state machine keeps in memory: 1 or 2
    /// (2 for every version-1 directory).
    public var residentWindowMonths: Int

    public init(walFileBytes: Int, directoryID: [UInt8], residentWindowMonths: Int = 1) {
        precondition(Self.residentWindowMonthsAllowed.contains(residentWindowMonths), "resident window of \(residentWindowMonths) months")
        self.walFileBytes = walFileBytes
        self.directoryID = directoryID
        self.residentWindowMonths = residentWindowMonths
    }

    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 64)
        bytes.withUnsafeMutableBytes { p in
            for (i, b) in Self.magic.enumerated() { p[i] = b }
            _LE.put(p, 8, Self.version)
            _LE.put(p, 12, UInt32(walFileBytes / 1024))
            for (i, b) in directoryID.enumerated() { p[16 + i] = b }
            _LE.put(p, 32, UInt32(residentWindowMonths))
            _LE.put(p, 60, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<60]))))
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> DataDirectoryMeta {
        try bytes.withUnsafeBytes { p in
            guard Array(p[0..<8]) == magic,
                Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<60]))) == _LE.u32(p, 60)
            else { throw LedgerError(.corruption, "ledger.meta has a bad magic or checksum; run `ledgerctl verify`", path: path, offset: 0) }
            let fileVersion = _LE.u32(p, 8)
            guard fileVersion == 1 || fileVersion == version else {
                throw LedgerError(.unsupportedVersion, "data directory version \(fileVersion) is not supported", path: path, offset: 8)
            }
            let windowMonths = fileVersion == 1 ? 2 : Int(_LE.u32(p, 32))
            guard residentWindowMonthsAllowed.contains(windowMonths) else {
                throw LedgerError(
                    .corruption, "ledger.meta names a resident window of \(windowMonths) months (1 or 2 are defined); run `ledgerctl verify`",
                    path: path, offset: 32)
            }
            return DataDirectoryMeta(walFileBytes: Int(_LE.u32(p, 12)) * 1024, directoryID: Array(p[16..<32]), residentWindowMonths: windowMonths)
        }
    }

    public static func read(storage: any Storage, layout: DataDirectoryLayout) throws -> DataDirectoryMeta {
        guard storage.fileExists(layout.metaPath) else { throw try missingError(storage: storage, layout: layout) }
        let file = try storage.openFileForReading(layout.metaPath)
        defer { file.close() }
        return try decode(try file.readExactly(64, at: 0), path: layout.metaPath)
    }

    /// The error for a directory without `ledger.meta`. When ledger files are
    /// there, the meta was lost or the directory was half made: that needs an
    /// investigation, and `init` would be the wrong advice (it refuses anyway).
    static func missingError(storage: any Storage, layout: DataDirectoryLayout) throws -> LedgerError {
        let found = try ledgerFiles(storage: storage, layout: layout)
        guard !found.isEmpty else {
            return LedgerError(
                .notInitialized, "not a ledger data directory (no ledger.meta and no ledger files); `ledgerctl init` creates one", path: layout.root)
        }
        return LedgerError(
            .corruption,
            "ledger.meta is missing but the directory holds ledger files (\(describe(found))): it needs investigation (`ledgerctl inspect wal`), not `init`",
            path: layout.root)
    }

    /// The top-level names in the directory that a ledger writes, sorted.
    public static func ledgerFiles(storage: any Storage, layout: DataDirectoryLayout) throws -> [String] {
        guard storage.fileExists(layout.root) else { return [] }
        return try storage.listDirectory(layout.root).filter(DataDirectoryLayout.belongsToLedger)
    }

    /// "wal-….log, segments/, …": at most 8 names, then how many more.
    static func describe(_ names: [String]) -> String {
        let shown = names.prefix(8).map { $0 == "segments" || $0 == "snapshots" ? $0 + "/" : $0 }
        return shown.joined(separator: ", ") + (names.count > 8 ? " and \(names.count - 8) more" : "")
    }
}
