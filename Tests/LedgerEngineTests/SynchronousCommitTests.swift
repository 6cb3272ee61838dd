import LedgerEngine
import Testing

/// Synchronous commit's decisions, without threads: who is answered when.
@Suite struct SynchronousCommitTests {
    @Test func withNoStandbyRequiredEveryGroupIsAnsweredAtOnce() {
        var sync = SynchronousCommit<String>(required: 0)
        #expect(sync.groupDurable(lsn: 1, waiters: ["a"]) == ["a"])
        #expect(sync.waitReason == nil)
    }

    @Test func groupsWaitUntilEnoughStandbysAcknowledgeTheirLSNAndNeverDowngrade() {
        var sync = SynchronousCommit<String>(required: 2)
        #expect(sync.groupDurable(lsn: 5, waiters: ["a", "b"]) == [])
        #expect(sync.groupDurable(lsn: 6, waiters: ["c"]) == [])
        #expect(sync.waitReason == "0 of 2 synchronous standbys connected")
        // One standby, however far ahead, is not two.
        #expect(sync.standbyAcknowledged("s1", durableLSN: 100) == [])
        #expect(sync.waitReason == "1 of 2 synchronous standbys connected")
        #expect(sync.standbyAcknowledged("s2", durableLSN: 5) == ["a", "b"])
        #expect(sync.replicatedLSN == 5)
        #expect(sync.standbyAcknowledged("s2", durableLSN: 6) == ["c"])
        #expect(sync.waitingGroups == 0)
        // A group already covered by both is answered at once.
        #expect(sync.groupDurable(lsn: 6 + 1, waiters: ["d"]) == [])
        #expect(sync.standbyAcknowledged("s2", durableLSN: 7) == ["d"])
        // A standby that leaves no longer counts: the next group waits.
        sync.standbyDisconnected("s1")
        #expect(sync.groupDurable(lsn: 8, waiters: ["e"]) == [])
        #expect(sync.standbyAcknowledged("s2", durableLSN: 8) == [])
        // An acknowledgment never moves a standby back.
        #expect(sync.standbyAcknowledged("s1", durableLSN: 3) == [])
        #expect(sync.standbyAcknowledged("s1", durableLSN: 9) == ["e"])
        #expect(sync.standbys["s2"] == 8)
    }

    @Test func aDrainHandsBackEveryWaiterInOrderAndLeavesNothing() {
        var sync = SynchronousCommit<Int>(required: 1)
        for lsn in 1...3 { #expect(sync.groupDurable(lsn: UInt64(lsn), waiters: [lsn * 10, lsn * 10 + 1]) == []) }
        #expect(sync.standbyAcknowledged("s", durableLSN: 1) == [10, 11])
        #expect(sync.drain() == [20, 21, 30, 31])
        #expect(sync.waitingGroups == 0 && sync.drain().isEmpty)
    }
}
