import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Replication slots: the file (vector), the compaction decision, and a
/// ledger whose slot keeps WAL across a restart until it passes its cap.
@Suite struct ReplicationSlotsTests {
    @Test func theSlotsFileVectorDecodesAndReencodesAndDamageIsRefused() throws {
        let bytes = try FormatVectorTests.vector("replication-slots.hex")
        let slots = try ReplicationSlotsFile.decode(bytes, path: "vector")
        #expect(slots == [ReplicationSlot(keyID: "repl", lsn: 41), ReplicationSlot(keyID: "old", lsn: 7, invalidated: true)])
        #expect(ReplicationSlotsFile.encode(slots) == bytes)
        for offset in [0, 9, 12, 16, 24, 30, bytes.count - 1] {
            var damaged = bytes
            damaged[offset] ^= 0x10
            #expect(throws: LedgerError.self, "byte \(offset)") { _ = try ReplicationSlotsFile.decode(damaged, path: "damaged") }
        }
        #expect(throws: LedgerError.self) { _ = try ReplicationSlotsFile.decode(Array(bytes.dropLast()), path: "short") }
    }

    @Test func aSlotLowersTheCompactionLimitUntilItWouldKeepTooMuch() {
        // Files of 100 bytes starting at LSN 1, 11, 21, 31 (the last is never deleted).
        let files: [(firstLSN: UInt64, bytes: Int)] = [(1, 100), (11, 100), (21, 100), (31, 100)]
        let slot = ReplicationSlot(keyID: "s", lsn: 15)
        // Compaction through 30 would delete the first three files; the slot
        // needs the second and third (records 16...30): 200 bytes.
        #expect(ReplicationSlot.compactionLimit(through: 30, slots: [slot], files: files, keepBytesMax: 200) == (15, [slot]))
        let (limit, updated) = ReplicationSlot.compactionLimit(through: 30, slots: [slot], files: files, keepBytesMax: 199)
        #expect(limit == 30 && updated == [ReplicationSlot(keyID: "s", lsn: 15, invalidated: true)])
        // An invalidated slot, or one past the limit, keeps nothing.
        #expect(ReplicationSlot.compactionLimit(through: 30, slots: updated, files: files, keepBytesMax: 1_000).through == 30)
        #expect(ReplicationSlot.compactionLimit(through: 30, slots: [ReplicationSlot(keyID: "s", lsn: 40)], files: files, keepBytesMax: 0).through == 30)
    }

    static func post(_ ledger: Ledger, rounds: Int, from id: inout UInt128) throws {
        for _ in 0..<rounds {
            _ = try ledger.submitAndWait(
                EventBatch(
                    (0..<20).map { _ in
                        defer { id += 1 }
                        return transfer(id, from: 1, to: 2, 1)
                    }))
        }
    }

    @Test func aSlotKeepsWALAcrossARestartUntilItPassesItsCapAndIsInvalidated() throws {
        let path = temporaryDirectory()
        var options = Ledger.Options()
        options.walFileBytes = 64 * 1024
        options.snapshotIntervalWALBytes = 0
        try Ledger.initialize(at: path, options: options)
        var ledger = try Ledger.open(at: path, options: options)
        _ = try ledger.submitAndWait(EventBatch([usd(1), usd(2)]))
        try ledger.createSlot("standby", lsn: 1)
        var id: UInt128 = 1_000
        try Self.post(ledger, rounds: 300, from: &id)
        let walFiles = { try WALReader(storage: POSIXStorage(), layout: DataDirectoryLayout(root: path)).walFiles() }
        #expect(try walFiles().count >= 4, "the workload must roll WAL files")
        // Two snapshots at different LSNs: without the slot, compaction would
        // delete every file before the first one's.
        _ = try ledger.snapshot()
        try Self.post(ledger, rounds: 1, from: &id)
        _ = try ledger.snapshot()
        #expect(try walFiles().first?.firstLSN == 1, "the slot at LSN 1 keeps every WAL file")
        try ledger.close()
        // The slot is on disk: a restart keeps honouring it.
        #expect(try ReplicationSlotsFile.read(storage: POSIXStorage(), layout: DataDirectoryLayout(root: path)).map(\.keyID) == ["standby"])
        options.maxSlotWALKeepBytes = 64 * 1024
        ledger = try Ledger.open(at: path, options: options)
        #expect(ledger.slot("standby") == ReplicationSlot(keyID: "standby", lsn: 1))
        try Self.post(ledger, rounds: 10, from: &id)
        _ = try ledger.snapshot()
        try Self.post(ledger, rounds: 1, from: &id)
        _ = try ledger.snapshot()
        // Past its 64 KiB cap: invalidated, on disk, and the WAL compacted as without it.
        #expect(ledger.slot("standby")?.invalidated == true)
        #expect(try walFiles().first!.firstLSN > 1)
        #expect(try ReplicationSlotsFile.read(storage: POSIXStorage(), layout: DataDirectoryLayout(root: path)).first?.invalidated == true)
        // An acknowledgment no longer moves an invalidated slot; a new base backup resets it.
        ledger.standbyAcknowledged("standby", durableLSN: 50)
        #expect(ledger.slot("standby")?.lsn == 1)
        try ledger.createSlot("standby", lsn: 60)
        #expect(ledger.slot("standby") == ReplicationSlot(keyID: "standby", lsn: 60))
        try ledger.close()
    }
}
