import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// Promotion and timelines (Specs/replication.md, "Promotion and
/// timelines"): the record and history formats, a standby promoted and
/// followed across the switch, and the checks that fence an old history.
@Suite struct TimelineTests {
    @Test func timelineRecordAndHistoryVectorsDecodeAndReencode() throws {
        let group = try FormatVectorTests.vector("wal-record-group.hex")
        let record = try FormatVectorTests.vector("wal-record-timeline.hex")
        let epochSeed = WALFileHeader(fileBytes: 65_536, firstLSN: 1, epoch: Array(0..<16), chainSeed: 0).epochSeed
        let groupHeader = try #require(group.withUnsafeBytes { WALRecordHeader.standalone($0, at: 0, epochSeed: epochSeed) })
        let header = try #require(record.withUnsafeBytes { WALRecordHeader.standalone($0, at: 0, epochSeed: epochSeed) })
        #expect(header.type == WALFormat.recordTypeTimeline && header.lsn == 2 && header.previousCRC == groupHeader.crc)
        let chainValue = HashChain(head: try FormatVectorTests.hexText("wal-chain-1.txt"))
        let expected = TimelineSwitch(timeline: 2, forkLSN: 1, previousTimeline: 1, clockNs: 1_700_000_000_000_000_005, chainValue: chainValue.head)
        let payload = Array(record[WALFormat.recordHeaderBytes...])
        #expect(payload == expected.encoded)
        #expect(try payload.withUnsafeBytes { try TimelineSwitch.check($0, lsn: 2, currentTimeline: 1, chainHead: chainValue.head) } == expected)
        // Sealed by the Swift writer code: the same bytes.
        var resealed = [UInt8](repeating: 0, count: WALFormat.recordHeaderBytes) + expected.encoded
        resealed.withUnsafeMutableBytes { p in
            _ = WALRecordHeader.seal(p, payloadBytes: 64, type: WALFormat.recordTypeTimeline, lsn: 2, previousCRC: groupHeader.crc, epochSeed: epochSeed)
        }
        #expect(resealed == record)
        let history = try FormatVectorTests.vector("timeline-history.hex")
        #expect(TimelineHistoryFile.encode(try TimelineHistory(rows: [expected])) == history)
        #expect(try TimelineHistoryFile.decode(history, path: "vector").rows == [expected])
        var damaged = history
        damaged[20] ^= 1
        #expect(throws: LedgerError.self) { _ = try TimelineHistoryFile.decode(damaged, path: "vector") }
    }

    @Test func aTimelineRecordThatDoesNotForkFromThisHistoryIsRefused() throws {
        let chain = [UInt8](repeating: 7, count: 32)
        let row = TimelineSwitch(timeline: 3, forkLSN: 9, previousTimeline: 2, clockNs: 1, chainValue: chain)
        let bytes = row.encoded
        func check(lsn: UInt64, timeline: UInt64, chain: [UInt8]) throws -> TimelineSwitch {
            try bytes.withUnsafeBytes { try TimelineSwitch.check($0, lsn: lsn, currentTimeline: timeline, chainHead: chain) }
        }
        #expect(try check(lsn: 10, timeline: 2, chain: chain) == row)
        #expect(throws: LedgerError.self) { _ = try check(lsn: 11, timeline: 2, chain: chain) }  // not after its fork
        #expect(throws: LedgerError.self) { _ = try check(lsn: 10, timeline: 1, chain: chain) }  // from another timeline
        #expect(throws: LedgerError.self) { _ = try check(lsn: 10, timeline: 2, chain: [UInt8](repeating: 8, count: 32)) }  // another history
        var older = row.encoded
        older[0] = 2  // timeline 2 "after" timeline 2: never newer
        older.withUnsafeBytes { #expect(TimelineSwitch.decode($0) == nil) }
    }

    /// A standby mirrored to the primary's end, promoted.
    static func promotedStandby() throws -> (primary: String, promoted: String, forkLSN: UInt64, ledger: Ledger) {
        let (primary, lastLSN) = try ReplicationFixtures.populated()
        let standbyPath = try ReplicationFixtures.standby(of: primary)
        let standby = try Ledger.open(at: standbyPath)
        try standby.receive(try WALMirrorTests.messages(primary, through: lastLSN))
        #expect(standby.timeline == 1)
        let row = try standby.promote(clockNs: 42)
        #expect(
            row == TimelineSwitch(timeline: 2, forkLSN: lastLSN, previousTimeline: 1, clockNs: 42, chainValue: try standby.replicationPosition().chainValue))
        return (primary, standbyPath, lastLSN, standby)
    }

    @Test func aPromotedStandbyTakesWritesOnANewTimelineAndKeepsItAcrossRestarts() throws {
        let (_, path, forkLSN, ledger) = try Self.promotedStandby()
        let layout = DataDirectoryLayout(root: path)
        #expect(!ledger.isStandby && ledger.timeline == 2)
        #expect(!FileManager.default.fileExists(atPath: layout.standbySignalPath))
        #expect(ledger.lastLSN.current == forkLSN + 1, "the timeline record is durable")
        #expect(try ledger.submitAndWait(EventBatch([usd(77)])) == [.ok])
        #expect(throws: LedgerError.self) { try ledger.promote() }  // a primary is not promoted
        try ledger.close()
        #expect(try Verifier.verify(at: path).passed)
        // The history file is derived: deleted, verify warns and recovery
        // rebuilds it from the log.
        try FileManager.default.removeItem(atPath: layout.timelineHistoryPath)
        let behind = try Verifier.verify(at: path)
        #expect(behind.passed && behind.problems.contains { $0.kind == "timeline history behind the log" }, "\(behind.problems)")
        let reopened = try Ledger.open(at: path)
        #expect(reopened.timeline == 2 && !reopened.isStandby)
        #expect(reopened.timelineHistory.rows.map(\.forkLSN) == [forkLSN])
        #expect(FileManager.default.fileExists(atPath: layout.timelineHistoryPath))
        try reopened.close()
        // A history that disagrees with the log's record refuses to open.
        var rows = try TimelineHistoryFile.read(storage: POSIXStorage(), layout: layout).rows
        rows[0].clockNs += 1
        try TimelineHistoryFile.write(try TimelineHistory(rows: rows), storage: POSIXStorage(), layout: layout)
        #expect(throws: LedgerError.self) { try Ledger.open(at: path).close() }
        let differing = try Verifier.verify(at: path)
        #expect(!differing.passed && differing.problems.contains { $0.kind == "timeline history" && $0.severity == .error }, "\(differing.problems)")
    }

    @Test func anotherStandbyFollowsThePromotedOneAcrossTheSwitch() throws {
        let (primary, promoted, forkLSN, ledger) = try Self.promotedStandby()
        _ = try ledger.submitAndWait(EventBatch([usd(77)]))
        let end = ledger.lastLSN.current
        // A second standby of the old primary, on timeline 1 at LSN 0.
        let followerPath = try ReplicationFixtures.standby(of: primary)
        let follower = try Ledger.open(at: followerPath)
        defer { try? follower.close() }
        let start = try ledger.replicationStart(
            standbyTimeline: 1, standbyDirectoryID: try follower.replicationPosition().directoryID, standbyLastLSN: 0,
            standbyChainValue: [UInt8](repeating: 0, count: 32))
        #expect(start == .stream(fromLSN: 1))
        try follower.receive(try WALMirrorTests.messages(promoted, through: end))
        #expect(follower.timeline == 2 && follower.isStandby)
        #expect(follower.timelineHistory == ledger.timelineHistory)
        #expect(try follower.account(id: 77) == ledger.account(id: 77))
        #expect(try follower.replicationPosition().chainValue == ledger.replicationPosition().chainValue)
        try WALMirrorTests.walFilesEqual(promoted, followerPath)  // before the new primary's close adds its record
        try ledger.close()
        #expect(follower.timelineHistory.rows.map(\.forkLSN) == [forkLSN])
    }

    @Test func theNewPrimaryRefusesHistoriesPastTheForkAndFencesAnOlderPrimary() throws {
        let (primary, _, forkLSN, ledger) = try Self.promotedStandby()
        defer { try? ledger.close() }
        let directoryID = try ledger.replicationPosition().directoryID
        let zeros = [UInt8](repeating: 0, count: 32)
        func decide(_ timeline: UInt64, _ lsn: UInt64) throws -> ReplicationStart {
            try ledger.replicationStart(standbyTimeline: timeline, standbyDirectoryID: directoryID, standbyLastLSN: lsn, standbyChainValue: zeros)
        }
        guard case .diverged(let why) = try decide(1, forkLSN + 1) else { throw LedgerError(.invalidInput, "a standby past the fork streamed") }
        #expect(why.contains("take a new base backup"))
        #expect(try decide(3, 3) == .newerTimeline(3))
        // The old primary learns of timeline 2: no more writes, across restarts.
        let old = try Ledger.open(at: primary)
        try old.supersede(byTimeline: 2)
        #expect(throws: LedgerError.self) { _ = try old.submitAndWait(EventBatch([usd(55)])) }
        let oldEnd = old.lastLSN.current
        try old.close()
        let reopened = try Ledger.open(at: primary)
        defer { try? reopened.close() }
        do {
            _ = try reopened.submitAndWait(EventBatch([usd(55)]))
            Issue.record("a superseded primary took a write")
        } catch let error as LedgerError {
            #expect(error.code == .notPrimary && error.message.contains("timeline 2"))
        }
        #expect(reopened.lastLSN.current == oldEnd, "a superseded primary writes no close record of its own")
    }

    @Test func aStandbyRefusesATimelineRecordFromAnotherHistory() throws {
        let (primary, lastLSN) = try ReplicationFixtures.populated()
        let standbyPath = try ReplicationFixtures.standby(of: primary)
        let standby = try Ledger.open(at: standbyPath)
        defer { try? standby.close() }
        let messages = try WALMirrorTests.messages(primary, through: lastLSN)
        try standby.receive(messages)
        // A forged switch at the next LSN, chained and sealed correctly, but
        // carrying a chain value that is not the standby's.
        let layout = DataDirectoryLayout(root: standbyPath)
        let files = try WALReader(storage: POSIXStorage(), layout: layout).walFiles()
        let scan = try WALReader(storage: POSIXStorage(), layout: layout).scan(mode: .verify) { _ in }
        let header = try WALFileHeader.decode(
            Array(try Data(contentsOf: URL(fileURLWithPath: files.last!.path))[0..<WALFormat.fileHeaderUsedBytes]), path: "test")
        for (chain, timeline) in [([UInt8](repeating: 9, count: 32), UInt64(1)), (try standby.replicationPosition().chainValue, 2)] {
            let row = TimelineSwitch(timeline: timeline + 1, forkLSN: lastLSN, previousTimeline: timeline, clockNs: 1, chainValue: chain)
            var bytes = [UInt8](repeating: 0, count: WALFormat.recordBytes(payloadBytes: 64))
            bytes.replaceSubrange(32..<96, with: row.encoded)
            bytes.withUnsafeMutableBytes { p in
                _ = WALRecordHeader.seal(
                    p, payloadBytes: 64, type: WALFormat.recordTypeTimeline, lsn: lastLSN + 1, previousCRC: scan.lastCRC, epochSeed: header.epochSeed)
            }
            #expect(throws: LedgerError.self) { try standby.receive([.walRecords(firstLSN: lastLSN + 1, offset: scan.appendOffset, bytes: bytes)]) }
            #expect(standby.timeline == 1 && standby.lastLSN.current == lastLSN, "nothing of the forged switch was applied")
        }
    }
}
