import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Continuous archiving: compaction deletes a WAL file only once the
/// archive holds it byte for byte; a failing archive holds compaction back;
/// a different file under the same name is never overwritten.
@Suite struct WALArchiveTests {
    static func ledger(_ path: String, archive: String) throws -> Ledger {
        var options = Ledger.Options()
        options.walFileBytes = 64 * 1024
        options.snapshotIntervalWALBytes = 0
        options.archiveWALTo = archive
        if !FileManager.default.fileExists(atPath: path + "/ledger.meta") { try Ledger.initialize(at: path, options: options) }
        return try Ledger.open(at: path, options: options)
    }

    static func post(_ ledger: Ledger, rounds: Int, from id: inout UInt128) throws {
        for _ in 0..<rounds {
            var events: [Event] = []
            for _ in 0..<20 {
                events.append(transfer(id, from: 1, to: 2, 1))
                id += 1
            }
            _ = try ledger.submitAndWait(EventBatch(events))
        }
    }

    @Test func compactedWALFilesAreInTheArchiveByteForByte() throws {
        let path = temporaryDirectory()
        let archive = path + "-archive"
        let ledger = try Self.ledger(path, archive: archive)
        _ = try ledger.submitAndWait(EventBatch([usd(1), usd(2)]))
        var id: UInt128 = 1_000
        try Self.post(ledger, rounds: 300, from: &id)
        let before = try WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: path)).walFiles()
        #expect(before.count >= 4)
        var copies: [String: Data] = [:]
        for file in before { copies[String(file.path.split(separator: "/").last!)] = try Data(contentsOf: URL(fileURLWithPath: file.path)) }
        _ = try ledger.snapshot()
        try Self.post(ledger, rounds: 1, from: &id)
        let result = try ledger.snapshot()
        #expect(result.walFilesDeleted >= 3)
        let archived = try FileManager.default.contentsOfDirectory(atPath: archive).sorted()
        #expect(archived.count == result.walFilesDeleted && !archived.contains { $0.hasSuffix(".tmp") })
        for name in archived { #expect(try Data(contentsOf: URL(fileURLWithPath: archive + "/" + name)) == copies[name], "\(name)") }
        #expect(ledger.archiveCounts.withLock { $0 } == (archived.count, 0))
        try ledger.close()
    }

    @Test func aFailingOrForeignArchiveHoldsCompactionBackAndIsNeverOverwritten() throws {
        let path = temporaryDirectory()
        let archive = path + "-archive"
        // A regular file where the archive directory should be: every copy fails.
        FileManager.default.createFile(atPath: archive, contents: Data("not a directory".utf8))
        var ledger = try Self.ledger(path, archive: archive)
        _ = try ledger.submitAndWait(EventBatch([usd(1), usd(2)]))
        var id: UInt128 = 1_000
        try Self.post(ledger, rounds: 300, from: &id)
        let files = try WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: path)).walFiles()
        _ = try ledger.snapshot()
        try Self.post(ledger, rounds: 1, from: &id)
        #expect(try ledger.snapshot().walFilesDeleted == 0, "nothing is deleted while the archive fails")
        #expect(try WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: path)).walFiles().first?.path == files.first?.path)
        #expect(ledger.archiveCounts.withLock { $0.failures } > 0)
        try ledger.close()
        // An archive holding another history's file under the same name.
        try FileManager.default.removeItem(atPath: archive)
        try FileManager.default.createDirectory(atPath: archive, withIntermediateDirectories: true)
        let first = String(files[0].path.split(separator: "/").last!)
        FileManager.default.createFile(atPath: archive + "/" + first, contents: Data("someone else's".utf8))
        ledger = try Self.ledger(path, archive: archive)
        try Self.post(ledger, rounds: 1, from: &id)
        #expect(try ledger.snapshot().walFilesDeleted == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: archive + "/" + first)) == Data("someone else's".utf8), "never overwritten")
        try ledger.close()
    }
}
