// The engine: a data directory opened for reading and writing. This file
// holds its state and its public API for writing; the rest lives beside it:
//
//   Ledger+Create.swift     initialize: a new data directory
//   Ledger+Open.swift       open: recovery (Recovery.swift), index reconciled
//   Ledger+Replay.swift     replaying WAL records (shared with verify)
//   CommitPipeline.swift    the commit pipeline's decisions, a tested value
//   CommitThreads.swift     the apply, durability and filing threads carrying them out
//   Ledger+Queries.swift    reads between groups
//   Ledger+Snapshots.swift  snapshots and WAL compaction
//   Ledger+Archive.swift    archival and restore of sealed months
//
// An entry's path: `submit` queues it (CommitPipeline.submit) → the apply
// thread takes it into a group, applies and encodes it → the group is made
// durable (WAL append, fdatasync, index, segments) inline or by the
// durability thread → the caller is completed. See CommitThreads.swift for
// which thread owns what.
#if canImport(Glibc)
    import Glibc
#endif

public final class Ledger: @unchecked Sendable {
    let storage: any Storage
    public let layout: DataDirectoryLayout
    let options: Options
    let directoryLock: any StorageLock
    let meta: DataDirectoryMeta
    public let recovery: RecoveryReport
    /// The largest group payload: `Limits.groupPayloadBytesMax`, or less when
    /// the directory's WAL files are small (a record never spans files). A
    /// batch that cannot fit a group on its own is rejected (`batchTooLarge`).
    public let groupPayloadBytesMax: Int
    /// Whether this directory takes writes, and the timelines its log went
    /// through (Ledger+Timelines.swift). A standby (`standby.signal`)
    /// applies a primary's mirrored log and refuses writes until promoted; a
    /// superseded primary (`superseded`) refuses them for good.
    let roleState: Guarded<(role: Role, timelines: TimelineHistory)>
    /// The last durable LSN on a primary; the last applied (and durable)
    /// one on a standby. Waited on by the replication stream and by reads
    /// with a minimum LSN.
    public let lastLSN: LSNWatch

    // Apply-thread state.
    var machine: LedgerStateMachine
    /// Lookups of entries evicted from the resident window.
    let evicted: EvictedEntries
    /// True while a snapshot being written holds a copy of the entry table:
    /// the apply thread merges the table's overlay only once it is false
    /// (ShardedIDTable.swift, "The overlay").
    let snapshotHoldsEntries = Guarded(false)
    /// Pipeline groups encoded since open (apply thread).
    var groupsEncoded: UInt64 = 0
    /// Automatic snapshots' captures between groups (SnapshotCapture.swift).
    let capture = SnapshotCapture()
    /// What the segments hold durably, as of the filing thread's last sync
    /// (a lower bound for compaction, readable while groups are in flight).
    let durableFiledLSN = Guarded<UInt64>(0)

    // The durable side (see CommitThreads.swift for its owner).
    let wal: WALWriter
    var index: BalanceIndex
    let segments: SegmentFiler
    /// Head of the SHA-256 chain over durable groups.
    var chain: HashChain
    var groupsSinceCheckpoint = 0

    /// Guards `pipeline` and `threads`; its condition wakes the threads.
    let lock = ConditionLock()
    var pipeline: Pipeline
    var threads: [Thread] = []
    /// Serializes snapshots (automatic and explicit).
    let snapshotLock = ConditionLock()
    /// One archival or restore at a time.
    let archiveLock = ConditionLock()
    /// Synchronous commit: groups durable here waiting for standbys.
    let syncLock = ConditionLock()
    var synchronous: SynchronousCommit<(Completion, Committed)>
    /// Replication slots (ReplicationSlots.swift), as on disk plus the LSNs
    /// acknowledged since; guarded by `slotsLock`.
    let slotsLock = ConditionLock()
    var slots: [ReplicationSlot]
    /// WAL files archived, and archiving failures (each holds compaction back).
    public let archiveCounts = Guarded((archived: 0, failures: 0))
    /// WAL files prepared in a file compaction retired (WALFilePreparer).
    public var walFilesReused: Int { wal.preparer.filesReused }

    init(opened: consuming Opened, lock directoryLock: any StorageLock) {
        storage = opened.storage
        layout = opened.layout
        options = opened.options
        meta = opened.meta
        self.directoryLock = directoryLock
        recovery = opened.report
        roleState = Guarded((opened.role, opened.timelines))
        lastLSN = LSNWatch(lsn: opened.wal.nextLSN - 1)
        groupPayloadBytesMax = min(
            Limits.groupPayloadBytesMax, opened.meta.walFileBytes - WALFormat.fileHeaderBytes - WALFormat.recordHeaderBytes - 8)
        machine = opened.machine
        opened.machine = LedgerStateMachine()  // one copy of the state, not two
        evicted = opened.evicted
        wal = opened.wal
        index = opened.index
        segments = opened.segments
        chain = opened.chain
        synchronous = SynchronousCommit(required: opened.options.synchronousStandbys)
        slots = opened.slots
        pipeline = Pipeline(
            configuration: .init(
                groupPayloadBytesMax: groupPayloadBytesMax, inlineGroupPayloadBytesMax: opened.options.inlineGroupPayloadBytesMax,
                queueBatchesMax: Limits.commitQueueBatchesMax,
                snapshotIntervalWALBytes: opened.options.snapshotIntervalWALBytes ?? 4 * opened.meta.walFileBytes),
            groups: [PendingGroup(), PendingGroup(), PendingGroup()])
        startThreads()
    }

    // MARK: - Submitting

    /// Queues `batch`; `completion` runs once the batch is durable (or the
    /// engine has stopped), on the thread that made it durable. The batch
    /// must be validated (`EventBatch(validating:)` or built by
    /// `EventBatch.append`).
    public func submit(_ batch: EventBatch, completion: @escaping Completion) {
        precondition(batch.eventCount >= 1 && batch.eventCount <= Limits.batchEventsMax, "batch of \(batch.eventCount) events")
        if let refusal = writeRefusal {
            completion(.failure(refusal))
            return
        }
        let payloadBytes = Self.batchPayloadBytes(batch)
        guard batch.bytes.count <= Limits.batchBytesMax, WALFormat.groupHeaderBytes + payloadBytes <= groupPayloadBytesMax else {
            let limit = min(
                Limits.batchBytesMax, groupPayloadBytesMax - WALFormat.groupHeaderBytes - WALFormat.batchHeaderBytes - WALFormat.align8(batch.eventCount))
            completion(
                .failure(
                    LedgerError(
                        .batchTooLarge, "batch of \(batch.bytes.count) bytes exceeds the limit (\(limit) bytes with this directory's WAL file size)")))
            return
        }
        if case .rejected(let error) = enqueue(.batch((batch, completion), payloadBytes: payloadBytes)) { completion(.failure(error)) }
    }

    private func enqueue(_ work: Pipeline.Work) -> Pipeline.SubmitAction {
        lock.withLock {
            let action = pipeline.submit(work)
            if case .queued(wakeApply: true) = action { lock.broadcast() }
            return action
        }
    }

    /// Bytes a batch takes in a group payload (see Specs/wal-format.md).
    static func batchPayloadBytes(_ batch: EventBatch) -> Int {
        WALGroupPayload.batchBytes(eventCount: batch.eventCount, eventBytes: batch.bytes.count)
    }

    /// Submits and waits for durability.
    public func submit(_ batch: EventBatch) async throws -> [ResultCode] {
        try await withCheckedThrowingContinuation { continuation in
            submit(batch) { continuation.resume(with: $0.map(\.results)) }
        }
    }

    /// Submits and blocks the calling thread until the batch is durable.
    public func submitAndWait(_ batch: EventBatch) throws -> [ResultCode] {
        let done = ConditionLock()
        nonisolated(unsafe) var outcome: Result<[ResultCode], LedgerError>?
        submit(batch) { result in
            done.withLock {
                outcome = result.map(\.results)
                done.signal()
            }
        }
        return try done.withLock {
            while outcome == nil { done.wait() }
            return try outcome!.get()
        }
    }

    /// Runs `body` on the apply thread against durable state (no group in flight).
    public func read<T>(_ body: @escaping (LedgerStateMachine) -> T) throws -> T {
        try onApplyThread { body(self.machine) }
    }

    /// Runs `body` on the apply thread between groups, with the state
    /// machine and the durable side to itself; throws the stop reason
    /// instead after a stop. (Not through `read`: an argument copy of the
    /// machine would make every mutation in `body` copy its storage.)
    /// `atNextGap`: run as a capture, at the next gap between groups without
    /// waiting for the groups in flight (the durable side is then not this
    /// thread's: only for a snapshot's capture, SnapshotCapture.swift).
    func onApplyThread<T>(atNextGap: Bool = false, _ body: @escaping () -> T) throws -> T {
        let done = ConditionLock()
        nonisolated(unsafe) var value: T?
        nonisolated(unsafe) var answered = false
        let run = { (ran: Bool) in
            let result = ran ? body() : nil
            done.withLock {
                value = result
                answered = true
                done.signal()
            }
        }
        let action = enqueue(atNextGap ? .capture(run) : .read(run))
        if case .rejected(let error) = action { throw error }
        let answer: T? = done.withLock {
            while !answered { done.wait() }
            return value
        }
        guard let answer else { throw stopReason ?? LedgerError(.stopped, "the engine stopped") }
        return answer
    }

    /// Batches waiting for the apply thread (at most `Limits.commitQueueBatchesMax`).
    public var queueDepthBatches: Int { lock.withLock { pipeline.queuedCount } }

    /// The reason the engine stopped, if it did.
    public var stopReason: LedgerError? { lock.withLock { pipeline.stoppedError } }

    // MARK: - Closing

    /// Finishes queued work, writes a close record, checkpoints the index and
    /// releases the directory lock. Throws the stop reason if the engine had
    /// stopped.
    public func close() throws {
        let running: [Thread] = lock.withLock {
            pipeline.close()
            lock.broadcast()
            defer { threads = [] }
            return threads
        }
        for thread in running { thread.join() }
        // Nothing touches the directory after close: not even the index of a
        // month sealed moments ago (SealedIndexWriter.swift).
        let indexWrites = Result { try segments.awaitIndexWrites() }
        evicted.awaitGrowth()
        lastLSN.close()
        failUnreplicated(because: "the primary is closing")
        defer {
            try? wal.finishPreparing()
            index.close()
            directoryLock.release()
        }
        if let stoppedError = stopReason { throw stoppedError }
        try indexWrites.get()
        // A standby's WAL holds the primary's records only (byte-identical
        // files): no close record of its own.
        var lsn = wal.nextLSN - 1
        // (A standby's or a superseded primary's log stays a prefix of the
        // new primary's history where it can: no record of its own.)
        if role == .primary {
            let payload = wal.payloadBuffer
            _LE.put(payload, WALFormat.closeLastGroupLSNOffset, wal.nextLSN - 1)
            lsn = try wal.append(type: WALFormat.recordTypeClose, payloadBytes: WALFormat.closePayloadBytes)
        }
        try wal.sync()
        try segments.sync()
        try index.checkpoint(lsn: lsn)
        // Last: derived, so the next open's speed depends on it, nothing else.
        try segments.saveOpenMonthIndex()
        // Kept WAL files and snapshot are for this run only (an open deletes
        // them too).
        try wal.finishPreparing()
        try wal.preparer.removeSpares()
        try SnapshotStore.removeSpare(storage: storage, layout: layout)
    }
}
