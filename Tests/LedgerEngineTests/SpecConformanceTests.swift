import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Each spec states one format version, the code's; every file kind has a
/// magic of its own; `ledger.meta` matches its spec's vector.
@Suite struct SpecConformanceTests {
    static func spec(_ name: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("Specs/\(name)"), encoding: .utf8)
    }

    /// Every "Format version: **N** (`Name.version`" in `text`, as (Name, N).
    static func statedVersions(_ text: String) -> [(name: String, version: Int)] {
        let pattern = try! NSRegularExpression(pattern: #"Format version: \*\*(\d+)\*\* \(`(\w+)\.version`"#)
        let range = NSRange(text.startIndex..., in: text)
        return pattern.matches(in: text, range: range).map { match in
            (String(text[Range(match.range(at: 2), in: text)!]), Int(text[Range(match.range(at: 1), in: text)!])!)
        }
    }

    @Test func everySpecStatesTheVersionTheCodeHas() throws {
        let code: [String: Int] = [
            "WALFormat": Int(WALFormat.version), "EventFormat": Int(EventFormat.version), "SegmentFormat": Int(SegmentFormat.version),
            "MonthIndexFormat": Int(MonthIndexFormat.version), "SnapshotFormat": Int(SnapshotFormat.version),
            "ArchiveFormat": Int(ArchiveFormat.version), "BalanceIndexFormat": Int(BalanceIndexFormat.version),
            "DataDirectoryMeta": Int(DataDirectoryMeta.version), "AccountCopyFormat": Int(AccountCopyFormat.version),
            "OpenMonthIndexFormat": Int(OpenMonthIndexFormat.version),
        ]
        var seen: Set<String> = []
        for file in [
            "wal-format.md", "data-model.md", "segment-format.md", "snapshot-format.md", "archive-format.md", "balance-index.md", "ledger-meta.md",
            "account-copy-format.md", "open-month-index-format.md",
        ] {
            let stated = Self.statedVersions(try Self.spec(file))
            #expect(!stated.isEmpty, "\(file) states no format version")
            for (name, version) in stated {
                #expect(code[name] == version, "\(file) says \(name) version \(version), the code has \(code[name].map(String.init) ?? "no such format")")
                #expect(seen.insert(name).inserted, "\(name)'s version is stated twice")
            }
        }
        #expect(seen == Set(code.keys), "formats whose spec states no version: \(Set(code.keys).subtracting(seen))")
    }

    @Test func everyFileKindHasItsOwnMagic() {
        let magics = [
            WALFormat.magic, SegmentFormat.magic, MonthIndexFormat.magic, SnapshotFormat.magic, ArchiveFormat.magic, BalanceIndexFormat.magic,
            DataDirectoryMeta.magic, AccountCopyFormat.magic, OpenMonthIndexFormat.magic,
        ]
        #expect(Set(magics).count == magics.count)
        #expect(magics.allSatisfy { $0.count == 8 })
    }

    @Test func ledgerMetaVectorDecodesAndReencodes() throws {
        let bytes = try FormatVectorTests.vector("ledger-meta.hex")
        let meta = try DataDirectoryMeta.decode(bytes, path: "ledger-meta.hex")
        #expect(meta == DataDirectoryMeta(walFileBytes: 64 << 20, directoryID: Array(0xf0...0xff), residentWindowMonths: 1))
        #expect(meta.encoded() == bytes)
        for offset in 0..<bytes.count {
            var flipped = bytes
            flipped[offset] ^= 0x01
            #expect(throws: LedgerError.self) { _ = try DataDirectoryMeta.decode(flipped, path: "x") }
        }
    }

    /// A version-1 meta (written before the window field) is still read,
    /// with the two-month window those directories were replayed with.
    @Test func ledgerMetaVersionOneReadsAsATwoMonthWindow() throws {
        let bytes = try FormatVectorTests.vector("ledger-meta-v1.hex")
        let meta = try DataDirectoryMeta.decode(bytes, path: "ledger-meta-v1.hex")
        #expect(meta == DataDirectoryMeta(walFileBytes: 64 << 20, directoryID: Array(0xf0...0xff), residentWindowMonths: 2))
        // A version-2 meta naming a window outside 1...2, checksum fixed
        // up: refused, naming the field's offset.
        var bad = try FormatVectorTests.vector("ledger-meta.hex")
        bad[32] = 3
        bad.withUnsafeMutableBytes { p in _LE.put(p, 60, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<60])))) }
        #expect(throws: LedgerError.self) { _ = try DataDirectoryMeta.decode(bad, path: "x") }
        do {
            _ = try DataDirectoryMeta.decode(bad, path: "x")
        } catch let error as LedgerError {
            #expect(error.code == .corruption && error.offset == 32 && error.message.contains("3 months"), "\(error)")
        }
    }

    /// A version-1 balance index (the magic it shared with the month index)
    /// is rebuilt from the log, and the reason names the version.
    @Test func versionOneBalanceIndexIsRebuiltNamingItsVersion() throws {
        let disk = try FaultInjectionTests.setUp(seed: 41)
        _ = try FaultInjectionTests.recordsAfterCleanClose(disk, batches: 3)
        let path = DataDirectoryLayout(root: FaultInjectionTests.root).indexPath
        let file = try disk.openFile(path, create: false)
        for page in 0..<2 {
            try file.write(BalanceIndexFormat.legacyMagic, at: page * BalanceIndexFormat.headerPageBytes)
            try file.write([1, 0, 0, 0], at: page * BalanceIndexFormat.headerPageBytes + 8)
        }
        try file.sync()
        let ledger = try Ledger.open(at: FaultInjectionTests.root, storage: disk, options: FaultInjectionTests.options())
        #expect(
            ledger.recovery.indexRebuildReason?.contains("index format version 1 is not supported") == true,
            "\(String(describing: ledger.recovery.indexRebuildReason))")
        try ledger.close()
    }
}
