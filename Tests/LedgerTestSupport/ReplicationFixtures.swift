// Directories the replication tests of several targets start from.
import Foundation
import LedgerEngine

public enum ReplicationFixtures {
    /// A closed ledger whose WAL spans several 64 KiB files: accounts 1...10
    /// and 400 batches of 1 to 7 transfers. Its path and the last LSN (the
    /// close record).
    public static func populated() throws -> (path: String, lastLSN: UInt64) {
        let path = temporaryDirectory()
        var options = Ledger.Options()
        options.walFileBytes = 64 * 1024
        options.snapshotIntervalWALBytes = 0
        try Ledger.initialize(at: path, options: options)
        let ledger = try Ledger.open(at: path, options: options)
        _ = try ledger.submitAndWait(EventBatch((1...10).map { usd(UInt128($0)) }))
        var id: UInt128 = 1_000
        for round in 0..<400 {
            var events: [Event] = []
            for _ in 0..<(1 + round % 7) {
                events.append(transfer(id, from: 1 + id % 10, to: 1 + (id + 1) % 10, 100 + id % 50))
                id += 1
            }
            _ = try ledger.submitAndWait(EventBatch(events))
        }
        let lastLSN = try ledger.status().lastLSN
        try ledger.close()
        return (path, lastLSN + 1)  // the close record
    }

    /// A standby of `primary` at LSN 0: its `ledger.meta`, its first WAL
    /// file with the records zeroed (as a base backup at LSN 0 would hold
    /// it) and `standby.signal`.
    public static func standby(of primary: String) throws -> String {
        let path = temporaryDirectory() + "-standby"
        let layout = DataDirectoryLayout(root: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: primary + "/ledger.meta", toPath: layout.metaPath)
        var first = try Data(contentsOf: URL(fileURLWithPath: DataDirectoryLayout(root: primary).walPath(firstLSN: 1)))
        first.replaceSubrange(WALFormat.fileHeaderBytes..<first.count, with: Data(count: first.count - WALFormat.fileHeaderBytes))
        try first.write(to: URL(fileURLWithPath: layout.walPath(firstLSN: 1)))
        FileManager.default.createFile(atPath: layout.standbySignalPath, contents: Data())
        return path
    }
}
