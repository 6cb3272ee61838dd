// What a caller configures when opening a ledger, and the small values the
// engine reports back (recovery, group commits, status).
#if canImport(Glibc)
    import Glibc
#endif

extension Ledger {
    public struct Options: Sendable {
        /// WAL file size for a new directory (`initialize` only).
        public var walFileBytes = Limits.walFileBytesDefault
        /// Months of entry records kept in memory for a new directory, 1
        /// or 2 (`initialize` only; fixed in `ledger.meta`, since it decides
        /// results: StateMachine/ResidentWindow.swift).
        public var residentWindowMonths = 1
        public var indexCheckpointGroups = Limits.indexCheckpointGroupsDefault
        /// Groups up to this payload size are made durable by the apply thread
        /// when nothing is in flight; larger ones overlap their sync with the
        /// next group's apply. 0 sends every group through the pipeline (tests
        /// use it to cover both paths).
        public var inlineGroupPayloadBytesMax = 512 * 1024
        /// WAL bytes written between automatic snapshots; nil: 4 WAL files'
        /// worth; 0: none (snapshots only through `snapshot()`). The interval
        /// is never shorter than the newest snapshot's size.
        public var snapshotIntervalWALBytes: Int?
        /// Nanoseconds since the Unix epoch. Tests inject a fake clock.
        public var clock: @Sendable () -> UInt64 = Ledger.wallClockNs
        /// Where recovery reports what it did (one line each).
        public var log: @Sendable (String) -> Void = { _ in }
        /// History pages hint the kernel to read their records ahead
        /// (posix_fadvise WILLNEED). Off only to measure what it saves.
        public var historyReadAhead = true
        /// Called on the thread that made a group durable, after its
        /// fdatasync returned (for metrics; must be quick and must not call
        /// the engine).
        public var groupCommitted: (@Sendable (GroupCommit) -> Void)?
        /// Synchronous commit: callers are answered once their group is
        /// durable here and on this many standbys (`standbyAcknowledged`);
        /// 0: as soon as it is durable here (SynchronousCommit.swift).
        public var synchronousStandbys = 0
        /// WAL a replication slot may keep from compaction before it is
        /// invalidated (ReplicationSlots.swift); 0: slots keep nothing.
        public var maxSlotWALKeepBytes = 1 << 30
        /// Continuous archiving: every WAL file is copied here before
        /// compaction deletes it (WALArchive.swift); nil: no archive.
        public var archiveWALTo: String?
        public init() {}
    }

    /// A durable batch: its results, and the LSN of the group record that
    /// holds it (a read with that minimum LSN sees it, on any node).
    public struct Committed: Sendable, Equatable {
        public var results: [ResultCode]
        public var lsn: UInt64
        public init(results: [ResultCode], lsn: UInt64) { (self.results, self.lsn) = (results, lsn) }
    }

    public typealias Completion = (Result<Committed, LedgerError>) -> Void

    public static let wallClockNs: @Sendable () -> UInt64 = {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// What recovery found; for logs and tests.
    public struct RecoveryReport: Sendable {
        public var recordsReplayed = 0
        public var lastLSN: UInt64 = 0
        public var tornTailTruncatedAt: (path: String, offset: Int)?
        public var indexRebuildReason: String?
        public var indexSlotsRepaired = 0
        public var cleanShutdown = false
        /// Applied events the segments lacked and recovery filed from the WAL.
        public var eventsRefiled = 0
        /// The snapshot recovery started from (0: none).
        public var snapshotLSN: UInt64 = 0
        /// No snapshot was usable and the WAL was compacted: the state was
        /// rebuilt from the segments (`StateRebuild`).
        public var rebuiltFromSegments = false
        /// The filter of evicted ids was the snapshot's (version 4), not
        /// rebuilt from the sealed months' id tables.
        public var evictedFilterFromSnapshot = false
        /// Time spent on the snapshot load, on the replay after it, and (on
        /// a thread beside them) on scanning and indexing the segments' open
        /// month: where a restart's time goes (Benchmarks, `open-rss`).
        public var snapshotLoadNs: UInt64 = 0
        public var replayNs: UInt64 = 0
        public var openMonthIndexedNs: UInt64 = 0
        /// Records of the open month whose indexing the index saved at the
        /// last clean close replaced (Specs/open-month-index-format.md; 0:
        /// none was used, the month was indexed from its records).
        public var openMonthRecordsFromSavedIndex = 0
    }

    /// One durable group, as `Options.groupCommitted` reports it.
    public struct GroupCommit: Sendable {
        /// Events in the group (client events and engine expiries).
        public var events: Int
        public var walPayloadBytes: Int
        /// How long the WAL's fdatasync took.
        public var syncNs: UInt64
    }

    /// What `status` reports: the last durable LSN and the state's counts,
    /// read between groups on the apply thread.
    public struct Status: Sendable, Equatable {
        public var lastLSN: UInt64
        public var accounts: Int
        public var residentEntries: Int
        public var queueDepthBatches: Int
    }
}
