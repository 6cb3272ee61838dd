import Testing

@testable import LedgerEngine

/// The commit pipeline's decisions, without threads: batches are names,
/// reads are names, groups are numbers.
@Suite struct CommitPipelineTests {
    typealias Pipeline = CommitPipeline<String, String, Int>

    static let header = WALFormat.groupHeaderBytes

    static func pipeline(
        groupBytesMax: Int = 1_000, inlineBytesMax: Int = 300, queueMax: Int = 4, snapshotEvery: Int = 0, groups: [Int] = [1, 2]
    ) -> Pipeline {
        Pipeline(
            configuration: .init(
                groupPayloadBytesMax: groupBytesMax, inlineGroupPayloadBytesMax: inlineBytesMax, queueBatchesMax: queueMax,
                snapshotIntervalWALBytes: snapshotEvery),
            groups: groups)
    }

    /// Takes the next work; nil when the answer was not `.took`.
    static func take(_ p: inout Pipeline, reserve: Int = 0) -> (batches: [String], reads: [String], captures: [String])? {
        var batches: [String] = []
        var reads: [String] = []
        var captures: [String] = []
        guard p.takeWork(expiryReserveBytes: reserve, batches: &batches, reads: &reads, captures: &captures) == .took else { return nil }
        return (batches, reads, captures)
    }

    static func takeAction(_ p: inout Pipeline) -> Pipeline.TakeAction {
        var batches: [String] = []
        var reads: [String] = []
        var captures: [String] = []
        return p.takeWork(expiryReserveBytes: 0, batches: &batches, reads: &reads, captures: &captures)
    }

    static func submitted(_ action: Pipeline.SubmitAction) -> Bool? {
        if case .queued(let wake) = action { return wake }
        return nil
    }

    static func group(_ action: Pipeline.AcquireAction) -> Int? {
        if case .group(let g) = action { return g }
        return nil
    }

    @Test func theApplyThreadIsWokenOnlyWhenTheQueueWasEmpty() {
        var p = Self.pipeline()
        #expect(Self.submitted(p.submit(.batch("a", payloadBytes: 100))) == true)
        #expect(Self.submitted(p.submit(.batch("b", payloadBytes: 100))) == false)
        #expect(Self.submitted(p.submit(.read("r"))) == false)
        _ = Self.take(&p)
        #expect(Self.submitted(p.submit(.batch("c", payloadBytes: 100))) == true)
    }

    @Test func aGroupTakesBatchesInOrderUpToItsPayloadLimit() {
        var p = Self.pipeline(groupBytesMax: Self.header + 300)
        for name in ["a", "b", "c", "d"] { _ = p.submit(.batch(name, payloadBytes: 100)) }
        #expect(Self.take(&p)?.batches == ["a", "b", "c"])
        #expect(Self.take(&p)?.batches == ["d"])
        #expect(Self.takeAction(&p) == .wait)
    }

    @Test func theExpiryReserveCountsPerBatch() {
        var p = Self.pipeline(groupBytesMax: Self.header + 300)
        for name in ["a", "b", "c"] { _ = p.submit(.batch(name, payloadBytes: 100)) }
        #expect(Self.take(&p, reserve: 50)?.batches == ["a", "b"])
        #expect(Self.take(&p, reserve: 50)?.batches == ["c"])
    }

    @Test func aBatchLargerThanTheRoomLeftStartsTheNextGroupButIsNeverLeftBehindAlone() {
        var p = Self.pipeline(groupBytesMax: Self.header + 300)
        _ = p.submit(.batch("small", payloadBytes: 100))
        _ = p.submit(.batch("large", payloadBytes: 300))
        #expect(Self.take(&p)?.batches == ["small"])
        // Alone it is taken even with a reserve that would not fit: submit
        // already refused batches that cannot fit a group on their own.
        #expect(Self.take(&p, reserve: 50)?.batches == ["large"])
    }

    @Test func readsQueuedBeforeAnyBatchAreServedAtOnce() {
        var p = Self.pipeline()
        _ = p.submit(.read("r1"))
        _ = p.submit(.batch("a", payloadBytes: 100))
        let first = Self.take(&p)
        #expect(first?.reads == ["r1"] && first?.batches == [])
        let second = Self.take(&p)
        #expect(second?.reads == [] && second?.batches == ["a"])
    }

    /// A capture is taken like a read, but nothing makes it wait for the
    /// groups in flight (reads do); a stop hands it back unrun.
    @Test func aCaptureIsTakenWhileGroupsAreInFlightAndAStopStrandsIt() {
        var p = Self.pipeline(inlineBytesMax: 0)
        _ = p.submit(.batch("a", payloadBytes: 100))
        #expect(Self.take(&p)?.batches == ["a"])
        guard let g = Self.group(p.acquireGroup()) else {
            Issue.record("no group")
            return
        }
        guard case .handOff = p.groupEncoded(g, payloadBytes: Self.header + 100) else {
            Issue.record("the group was not handed off")
            return
        }
        _ = p.submit(.capture("c1"))
        _ = p.submit(.read("r1"))
        let taken = Self.take(&p)
        #expect(taken?.captures == ["c1"] && taken?.batches == [] && taken?.reads == [])
        #expect(p.readsMayRun() == .wait)
        #expect(Self.take(&p)?.reads == ["r1"])
        _ = p.submit(.capture("c2"))
        let stranded = p.stop(because: LedgerError(.io, "disk"))
        #expect(stranded.work.count == 1)
        if case .capture("c2") = stranded.work.first {} else { Issue.record("the capture was not stranded: \(stranded.work)") }
    }

    @Test func readsAfterABatchJoinItsTake() {
        var p = Self.pipeline()
        _ = p.submit(.batch("a", payloadBytes: 100))
        _ = p.submit(.read("r1"))
        _ = p.submit(.batch("b", payloadBytes: 100))
        let taken = Self.take(&p)
        #expect(taken?.batches == ["a", "b"] && taken?.reads == ["r1"])
    }

    @Test func theQueueIsBoundedForBatchesAndRejectsWithQueueFull() {
        var p = Self.pipeline(queueMax: 2)
        _ = p.submit(.batch("a", payloadBytes: 100))
        _ = p.submit(.batch("b", payloadBytes: 100))
        guard case .rejected(let error) = p.submit(.batch("c", payloadBytes: 100)) else {
            Issue.record("a third batch was queued")
            return
        }
        #expect(error.code == .queueFull)
        #expect(p.queuedCount == 2)
    }

    @Test func smallGroupsWithNothingInFlightAreMadeDurableInline() {
        var p = Self.pipeline(inlineBytesMax: 300)
        let g = Self.group(p.acquireGroup())!
        #expect(p.durableSideOwner == .applyThread)
        guard case .makeDurableInline = p.groupEncoded(g, payloadBytes: 300) else {
            Issue.record("a small group was handed off")
            return
        }
        #expect(p.durableSideOwner == .applyThread)
        #expect(p.groupDurable(g, payloadBytes: 300, inline: true) == false)
    }

    @Test func largeGroupsAreHandedOffAndTheDurableSideMovesWithThem() {
        var p = Self.pipeline(inlineBytesMax: 300)
        let g = Self.group(p.acquireGroup())!
        guard case .handOff = p.groupEncoded(g, payloadBytes: 301) else {
            Issue.record("a large group was made durable inline")
            return
        }
        #expect(p.durableSideOwner == .durabilityThread)
        #expect(p.readsMayRun() == .wait)
        guard case .makeDurable(let taken) = p.nextHandedOffGroup() else {
            Issue.record("the durability thread found nothing")
            return
        }
        #expect(taken == g)
        p.groupSynced(taken)
        // Durable and answered, not yet filed: reads still wait.
        #expect(p.readsMayRun() == .wait && p.durableSideOwner == .durabilityThread)
        guard case .file(let filed) = p.nextGroupToFile(), filed == g else {
            Issue.record("the filing thread found nothing")
            return
        }
        #expect(p.groupDurable(filed, payloadBytes: 301, inline: false) == true)
        #expect(p.durableSideOwner == .applyThread)
        #expect(p.readsMayRun() == .run(durable: true))
    }

    /// Three stages overlap: group 3 applied while 2 is synced and 1 filed;
    /// each stage takes groups in order, and reads wait for the last filing.
    @Test func theFilingThreadTakesSyncedGroupsInOrderWhileTheNextIsSynced() {
        var p = Self.pipeline(inlineBytesMax: 0, groups: [3, 2, 1])
        let first = Self.group(p.acquireGroup())!
        _ = p.groupEncoded(first, payloadBytes: 100)
        guard case .wait = p.nextGroupToFile(), case .makeDurable(first) = p.nextHandedOffGroup() else {
            Issue.record("a group was filed before it was durable")
            return
        }
        p.groupSynced(first)
        let second = Self.group(p.acquireGroup())!
        _ = p.groupEncoded(second, payloadBytes: 100)
        guard case .makeDurable(second) = p.nextHandedOffGroup(), case .file(first) = p.nextGroupToFile() else {
            Issue.record("the durability and filing threads did not overlap")
            return
        }
        let third = Self.group(p.acquireGroup())!
        _ = p.groupEncoded(third, payloadBytes: 100)
        guard case .wait = p.acquireGroup() else {
            Issue.record("a fourth buffer appeared")
            return
        }
        p.groupSynced(second)
        _ = p.groupDurable(first, payloadBytes: 100, inline: false)
        guard case .file(second) = p.nextGroupToFile(), case .makeDurable(third) = p.nextHandedOffGroup() else {
            Issue.record("out of order")
            return
        }
        _ = p.groupDurable(second, payloadBytes: 100, inline: false)
        p.groupSynced(third)
        #expect(p.readsMayRun() == .wait)
        guard case .file(third) = p.nextGroupToFile() else {
            Issue.record("the last group was not filed")
            return
        }
        _ = p.groupDurable(third, payloadBytes: 100, inline: false)
        #expect(p.readsMayRun() == .run(durable: true) && p.groupsInFlight == 0)
    }

    /// The filing thread may fall behind: groups synced meanwhile wait and
    /// are filed oldest first (the segments take records in LSN order).
    @Test func syncedGroupsWaitingForTheFilingThreadAreFiledOldestFirst() {
        var p = Self.pipeline(inlineBytesMax: 0, groups: [3, 2, 1])
        var synced: [Int] = []
        for _ in 0..<3 {
            let g = Self.group(p.acquireGroup())!
            _ = p.groupEncoded(g, payloadBytes: 100)
            guard case .makeDurable(let taken) = p.nextHandedOffGroup() else {
                Issue.record("nothing to make durable")
                return
            }
            p.groupSynced(taken)
            synced.append(taken)
        }
        var filed: [Int] = []
        while case .file(let g) = p.nextGroupToFile() {
            filed.append(g)
            _ = p.groupDurable(g, payloadBytes: 100, inline: false)
        }
        #expect(filed == synced && filed == [1, 2, 3])
    }

    /// A stop fails the groups not yet durable; a synced group was answered
    /// already (the log holds it), so it is not failed and not filed.
    @Test func aStopLeavesSyncedGroupsToRecoveryAndEndsTheFilingThread() {
        var p = Self.pipeline(inlineBytesMax: 0)
        let first = Self.group(p.acquireGroup())!
        _ = p.groupEncoded(first, payloadBytes: 100)
        let second = Self.group(p.acquireGroup())!
        _ = p.groupEncoded(second, payloadBytes: 100)
        guard case .makeDurable(first) = p.nextHandedOffGroup() else {
            Issue.record("nothing to make durable")
            return
        }
        p.groupSynced(first)
        let stranded = p.stop(because: LedgerError(.io, "segment write: EIO"))
        #expect(stranded.groups == [second])
        guard case .exit = p.nextGroupToFile() else {
            Issue.record("the filing thread carries on after a stop")
            return
        }
    }

    @Test func aSmallGroupIsHandedOffWhileAnotherIsInFlight() {
        var p = Self.pipeline(inlineBytesMax: 300)
        let first = Self.group(p.acquireGroup())!
        _ = p.groupEncoded(first, payloadBytes: 500)
        let second = Self.group(p.acquireGroup())!
        guard case .handOff = p.groupEncoded(second, payloadBytes: 100) else {
            Issue.record("the apply thread made a group durable while the durability thread held the WAL")
            return
        }
        #expect(p.groupsInFlight == 2)
        // Both buffers are in use: the apply thread waits for one.
        guard case .wait = p.acquireGroup() else {
            Issue.record("a third group buffer appeared")
            return
        }
        // In order.
        guard case .makeDurable(first) = p.nextHandedOffGroup(), case .makeDurable(second) = p.nextHandedOffGroup() else {
            Issue.record("handed-off groups out of order")
            return
        }
    }

    @Test func inlineZeroSendsEveryGroupThroughTheDurabilityThread() {
        var p = Self.pipeline(inlineBytesMax: 0)
        let g = Self.group(p.acquireGroup())!
        guard case .handOff = p.groupEncoded(g, payloadBytes: Self.header) else {
            Issue.record("inline with inlineGroupPayloadBytesMax 0")
            return
        }
    }

    @Test func aStopFailsEveryQueuedBatchReadAndHandedOffGroupAndKeepsTheFirstReason() {
        var p = Self.pipeline(inlineBytesMax: 0)
        let first = Self.group(p.acquireGroup())!
        _ = p.groupEncoded(first, payloadBytes: 100)
        let second = Self.group(p.acquireGroup())!
        _ = p.groupEncoded(second, payloadBytes: 100)
        guard case .makeDurable(first) = p.nextHandedOffGroup() else {
            Issue.record("nothing to make durable")
            return
        }
        _ = p.submit(.batch("a", payloadBytes: 100))
        _ = p.submit(.read("r"))
        // The durability thread's sync of `first` fails: it fails `first`
        // itself; the pipeline returns the rest.
        let stranded = p.stop(because: LedgerError(.syncFailed, "fdatasync: EIO"))
        #expect(stranded.error.code == .stopped && stranded.error.message.contains("EIO"))
        #expect(stranded.groups == [second])
        #expect(stranded.work.count == 2)
        let again = p.stop(because: LedgerError(.io, "later"))
        #expect(again.error.message.contains("EIO") && again.groups.isEmpty && again.work.isEmpty)
        guard case .rejected(let error) = p.submit(.batch("b", payloadBytes: 100)) else {
            Issue.record("a batch was queued after a stop")
            return
        }
        #expect(error.message.contains("EIO"))
        #expect(Self.takeAction(&p) == .exit)
        guard case .exit = p.nextHandedOffGroup(), case .stopped = p.acquireGroup() else {
            Issue.record("a thread carries on after a stop")
            return
        }
        #expect(p.readsMayRun() == .run(durable: false))
        #expect(p.nextSnapshot() == .exit)
    }

    @Test func aGroupEncodedAfterAStopFailsAndItsBufferIsFreed() {
        var p = Self.pipeline(groups: [7])
        let g = Self.group(p.acquireGroup())!
        _ = p.stop(because: LedgerError(.io, "lookup failed"))
        guard case .fail(let error) = p.groupEncoded(g, payloadBytes: 100) else {
            Issue.record("a group was committed after a stop")
            return
        }
        #expect(error.code == .stopped)
    }

    @Test func closingFinishesQueuedWorkThenExitsBothThreads() {
        var p = Self.pipeline()
        _ = p.submit(.batch("a", payloadBytes: 100))
        p.close()
        guard case .rejected(let error) = p.submit(.batch("b", payloadBytes: 100)) else {
            Issue.record("queued while closing")
            return
        }
        #expect(error.code == .stopped)
        #expect(Self.take(&p)?.batches == ["a"])
        #expect(Self.takeAction(&p) == .exit)
        guard case .wait = p.nextHandedOffGroup() else {
            Issue.record("the durability thread left before the apply thread finished")
            return
        }
        p.applyThreadFinished()
        guard case .exit = p.nextHandedOffGroup(), case .exit = p.nextGroupToFile() else {
            Issue.record("the durability or filing thread did not exit")
            return
        }
    }

    @Test func theFilingThreadExitsAtCloseOnlyOnceEveryGroupIsFiled() {
        var p = Self.pipeline(inlineBytesMax: 0)
        let g = Self.group(p.acquireGroup())!
        _ = p.groupEncoded(g, payloadBytes: 100)
        p.close()
        p.applyThreadFinished()
        guard case .makeDurable(g) = p.nextHandedOffGroup(), case .wait = p.nextGroupToFile() else {
            Issue.record("the filing thread left with a group in flight")
            return
        }
        p.groupSynced(g)
        guard case .exit = p.nextHandedOffGroup(), case .file(g) = p.nextGroupToFile() else {
            Issue.record("the synced group was not filed at close")
            return
        }
        _ = p.groupDurable(g, payloadBytes: 100, inline: false)
        guard case .exit = p.nextGroupToFile() else {
            Issue.record("the filing thread did not exit")
            return
        }
    }

    @Test func snapshotsAreDueEveryIntervalButNeverMoreOftenThanTheirOwnSize() {
        var p = Self.pipeline(inlineBytesMax: 1_000, snapshotEvery: 250)
        func commitInline(_ bytes: Int) -> Bool {
            let g = Self.group(p.acquireGroup())!
            _ = p.groupEncoded(g, payloadBytes: bytes)
            return p.groupDurable(g, payloadBytes: bytes, inline: true)
        }
        #expect(p.nextSnapshot() == .wait)
        #expect(commitInline(200) == false)
        #expect(commitInline(200) == true)  // 400 ≥ 250: wake the snapshot thread
        #expect(p.nextSnapshot() == .take)
        #expect(p.nextSnapshot() == .wait)
        p.snapshotWritten(bytes: 600)  // the next waits for 600 bytes of WAL
        #expect(commitInline(300) == false)
        #expect(commitInline(200) == false)
        #expect(commitInline(100) == true)
        #expect(p.nextSnapshot() == .take)
    }
}
