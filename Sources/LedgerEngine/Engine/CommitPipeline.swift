// The commit pipeline's decisions, as a value: which queued batches form the
// next group, whether a group is made durable by the apply thread itself
// (inline) or handed to the durability thread (pipelined), when reads may
// run, when each thread waits or exits, when a snapshot is due, and, when the
// engine stops, whose work fails. Events in, actions out, in the manner of
// SwiftNIO's state machines: `Ledger` keeps one `CommitPipeline` under one
// lock and its threads only carry out the actions (CommitThreads.swift), so
// every decision is tested without threads (CommitPipelineTests).
//
// Ownership of the durable side (WAL writer, chain head, balance index,
// segment filer): the durability and filing threads while a group is handed
// off (`groupsInFlight > 0`: the WAL writer and chain head to the first, the
// index and filer to the second, each group passing from one to the other
// in `groupSynced`), the apply thread otherwise. The hand-off happens in
// `groupEncoded` (→ `.handOff`) and the hand-back in `groupDurable`, both
// under the lock; `durableSideOwner` says who holds it. The apply thread
// makes a group durable inline only while it holds the durable side, and runs
// reads (which read the segments and the WAL head) only then too.
//
// Generic over what it moves, so tests use plain values: `Batch` (a batch and
// its completion), `Read` (a read closure) and `Group` (a reusable group
// buffer).
struct CommitPipeline<Batch, Read, Group> {
    enum Work {
        case batch(Batch, payloadBytes: Int)
        case read(Read)
        /// Runs at the next gap between groups without waiting for the
        /// groups in flight: it sees applied state, not necessarily durable
        /// (a snapshot's capture, SnapshotCapture.swift).
        case capture(Read)
    }

    enum Owner: Equatable { case applyThread, durabilityThread }

    enum Phase {
        case running
        /// `close` was called: queued work finishes, nothing new is accepted.
        case closing
        /// Crash-stop: the first fatal error, wrapped as `.stopped`.
        case stopped(LedgerError)
    }

    struct Configuration {
        /// The largest group payload (header, batches, expiry room).
        var groupPayloadBytesMax: Int
        /// Groups up to this payload size are made durable inline when the
        /// apply thread holds the durable side; 0: never inline.
        var inlineGroupPayloadBytesMax: Int
        /// Work items waiting for the apply thread before `queueFull`.
        var queueBatchesMax: Int
        /// WAL payload bytes between automatic snapshots; 0: none.
        var snapshotIntervalWALBytes: Int
    }

    let configuration: Configuration
    private(set) var phase: Phase = .running
    private var queue: [Work] = []
    private var queueHead = 0
    private var freeGroups: [Group]
    /// Handed to the durability thread and not yet taken by it.
    private var handedOff: [Group] = []
    /// Handed off and not yet filed (queued, being made durable, or durable
    /// and waiting for the filing thread or being filed).
    private(set) var groupsInFlight = 0
    /// Durable and answered; the filing thread indexes and files them next,
    /// in LSN order.
    private var toFile: [Group] = []
    private var applyFinished = false
    private var walBytesSinceSnapshot = 0
    /// Bytes of the newest snapshot: the next automatic one waits for at
    /// least that much WAL, so snapshots cost at most the WAL they make
    /// redundant.
    private var lastSnapshotBytes = 0
    private var snapshotWanted = false

    init(configuration: Configuration, groups: [Group]) {
        precondition(!groups.isEmpty, "the pipeline needs at least one group buffer")
        precondition(configuration.queueBatchesMax >= 1 && configuration.groupPayloadBytesMax > 0, "pipeline configuration \(configuration)")
        self.configuration = configuration
        self.freeGroups = groups
    }

    var durableSideOwner: Owner { groupsInFlight > 0 ? .durabilityThread : .applyThread }

    var stoppedError: LedgerError? {
        if case .stopped(let error) = phase { return error }
        return nil
    }

    var queuedCount: Int { queue.count - queueHead }

    // MARK: - Submitters

    enum SubmitAction {
        /// Queued; wake the apply thread if it may be waiting (the queue was empty).
        case queued(wakeApply: Bool)
        case rejected(LedgerError)
    }

    mutating func submit(_ work: Work) -> SubmitAction {
        switch phase {
        case .stopped(let error): return .rejected(error)
        case .closing: return .rejected(LedgerError(.stopped, "the ledger is closing"))
        case .running: break
        }
        if case .batch = work, queuedCount >= configuration.queueBatchesMax {
            return .rejected(LedgerError(.queueFull, "\(configuration.queueBatchesMax) batches are already waiting"))
        }
        // Only the apply thread waits for work, and only on an empty queue:
        // waking per submit woke every waiter once per request.
        let wasEmpty = queuedCount == 0
        queue.append(work)
        return .queued(wakeApply: wasEmpty)
    }

    // MARK: - Apply thread

    enum TakeAction: Equatable {
        case wait
        case exit
        /// `batches`, `reads` and `captures` were filled (not all empty).
        case took
    }

    /// Takes the next group's batches, and the reads and captures queued
    /// before them, in queue order. A group holds at least one batch and,
    /// past the first, only batches that fit `groupPayloadBytesMax` with
    /// `expiryReserveBytes` each (room for the hold expiries that may precede
    /// a batch). Reads and captures end the take when no batch was taken
    /// yet, so they are served promptly.
    mutating func takeWork(expiryReserveBytes: Int, batches: inout [Batch], reads: inout [Read], captures: inout [Read]) -> TakeAction {
        precondition(batches.isEmpty && reads.isEmpty && captures.isEmpty, "the previous take was not consumed")
        if stoppedError != nil { return .exit }
        if queuedCount == 0 {
            if case .closing = phase { return .exit }
            return .wait
        }
        var payloadBytes = WALFormat.groupHeaderBytes
        while queueHead < queue.count {
            switch queue[queueHead] {
            case .read(let read):
                reads.append(read)
            case .capture(let capture):
                captures.append(capture)
            case .batch(let batch, let bytes):
                let reserved = bytes + expiryReserveBytes
                if !batches.isEmpty && payloadBytes + reserved > configuration.groupPayloadBytesMax { return .took }
                payloadBytes += reserved
                batches.append(batch)
            }
            queueHead += 1
            if !(reads.isEmpty && captures.isEmpty) && batches.isEmpty { break }
        }
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        }
        return .took
    }

    enum ReadAction: Equatable {
        case wait
        /// Run the reads: against durable state, or with nil after a stop.
        case run(durable: Bool)
    }

    /// Reads see durable state only: they wait until no group is handed off
    /// (the apply thread then holds the durable side too).
    func readsMayRun() -> ReadAction {
        if stoppedError != nil { return .run(durable: false) }
        return groupsInFlight > 0 ? .wait : .run(durable: true)
    }

    enum AcquireAction {
        case wait
        case group(Group)
        case stopped(LedgerError)
    }

    /// A free group buffer for the batches just taken.
    mutating func acquireGroup() -> AcquireAction {
        if let error = stoppedError { return .stopped(error) }
        guard let group = freeGroups.popLast() else { return .wait }
        return .group(group)
    }

    enum EncodedAction {
        /// The apply thread holds the durable side and the group is small:
        /// make it durable on this thread (no hand-off), then `groupDurable`.
        case makeDurableInline
        /// Handed to the durability thread; wake it.
        case handOff
        /// The engine stopped meanwhile: fail the group's members.
        case fail(LedgerError)
    }

    /// The apply thread applied and encoded `group` (`payloadBytes`).
    /// A small group with nothing in flight gains nothing from the pipeline
    /// and would pay a thread hand-off (measured: 10-17% of batch-size-1
    /// throughput, Benchmarks/RESULTS.md).
    mutating func groupEncoded(_ group: Group, payloadBytes: Int) -> EncodedAction {
        precondition(payloadBytes >= WALFormat.groupHeaderBytes && payloadBytes <= configuration.groupPayloadBytesMax, "group payload of \(payloadBytes) bytes")
        if let error = stoppedError {
            freeGroups.append(group)
            return .fail(error)
        }
        if groupsInFlight == 0 && payloadBytes <= configuration.inlineGroupPayloadBytesMax { return .makeDurableInline }
        handedOff.append(group)
        groupsInFlight += 1
        return .handOff
    }

    /// The apply thread drained its queue for good (closing or stopped).
    mutating func applyThreadFinished() { applyFinished = true }

    // MARK: - Durability thread

    enum DurableAction {
        case wait
        case exit
        case makeDurable(Group)
    }

    mutating func nextHandedOffGroup() -> DurableAction {
        if stoppedError != nil { return .exit }
        if !handedOff.isEmpty { return .makeDurable(handedOff.removeFirst()) }
        return applyFinished ? .exit : .wait
    }

    /// The durability thread made `group` durable and answered its callers;
    /// the filing thread takes it next (wake it). Filing a large group takes
    /// as long as applying it: on its own thread it overlaps the next
    /// group's write and fdatasync instead of delaying them.
    mutating func groupSynced(_ group: Group) {
        precondition(groupsInFlight > toFile.count, "a group synced that was not handed off")
        toFile.append(group)
    }

    // MARK: - Filing thread

    enum FileAction {
        case wait
        case exit
        case file(Group)
    }

    /// The next durable group to index and file. Exits after a stop (the
    /// groups left were answered; recovery files them from the log) and
    /// once the apply thread finished and every group is filed.
    mutating func nextGroupToFile() -> FileAction {
        if stoppedError != nil { return .exit }
        if !toFile.isEmpty { return .file(toFile.removeFirst()) }
        return applyFinished && groupsInFlight == 0 ? .exit : .wait
    }

    /// `group` is durable, its callers were completed and it is filed; its
    /// buffer is free again. `inline`: it was made durable and filed by the
    /// apply thread (else by the durability and filing threads). Returns
    /// whether to wake the waiting threads (a free group, the durable side
    /// back with the apply thread, or a snapshot due).
    mutating func groupDurable(_ group: Group, payloadBytes: Int, inline: Bool) -> Bool {
        if inline {
            precondition(groupsInFlight == 0, "an inline group while \(groupsInFlight) are handed off")
        } else {
            precondition(groupsInFlight > 0, "a handed-off group completed with none in flight")
            groupsInFlight -= 1
        }
        freeGroups.append(group)
        let snapshotDue = walBytesWritten(payloadBytes)
        return !inline || snapshotDue
    }

    /// `bytes` more of WAL are durable (a group, or a standby's mirrored
    /// records); returns whether a snapshot became due (wake its thread).
    mutating func walBytesWritten(_ bytes: Int) -> Bool {
        walBytesSinceSnapshot += bytes
        let snapshotDue =
            configuration.snapshotIntervalWALBytes > 0
            && walBytesSinceSnapshot >= max(configuration.snapshotIntervalWALBytes, lastSnapshotBytes)
        if snapshotDue {
            walBytesSinceSnapshot = 0
            snapshotWanted = true
        }
        return snapshotDue
    }

    // MARK: - Snapshot thread

    enum SnapshotAction: Equatable { case wait, exit, take }

    mutating func nextSnapshot() -> SnapshotAction {
        if stoppedError != nil { return .exit }
        if case .closing = phase { return .exit }
        guard snapshotWanted else { return .wait }
        snapshotWanted = false
        return .take
    }

    mutating func snapshotWritten(bytes: Int) { lastSnapshotBytes = bytes }

    // MARK: - Close and crash-stop

    /// `close` was called; wake every thread (they finish and exit).
    mutating func close() {
        if case .running = phase { phase = .closing }
    }

    /// What a stop leaves to fail: the queued work (batches fail, reads and
    /// captures get nil) and the handed-off groups not yet taken (every member fails).
    struct Stranded {
        var error: LedgerError
        var work: [Work]
        var groups: [Group]
    }

    /// Crash-stop with `error` (the first one is kept as the reason). The
    /// caller fails the completions it holds itself (the group it was making
    /// durable) and everything returned.
    mutating func stop(because error: LedgerError) -> Stranded {
        let stopped =
            stoppedError
            ?? LedgerError(
                .stopped, "the engine stopped after a fatal error (\(error)); restart to recover from the log", path: error.path, offset: error.offset)
        phase = .stopped(stopped)
        let work = Array(queue[queueHead...])
        queue.removeAll()
        queueHead = 0
        let groups = handedOff
        handedOff.removeAll()
        return Stranded(error: stopped, work: work, groups: groups)
    }
}

/// An action after which the asking thread waits on the pipeline's
/// condition and asks again (`Ledger.awaitPipeline`).
protocol CommitPipelineAction { var isWait: Bool { get } }

extension CommitPipeline.TakeAction: CommitPipelineAction { var isWait: Bool { self == .wait } }
extension CommitPipeline.ReadAction: CommitPipelineAction { var isWait: Bool { self == .wait } }
extension CommitPipeline.DurableAction: CommitPipelineAction {
    var isWait: Bool { if case .wait = self { true } else { false } }
}
extension CommitPipeline.AcquireAction: CommitPipelineAction {
    var isWait: Bool { if case .wait = self { true } else { false } }
}
extension CommitPipeline.SnapshotAction: CommitPipelineAction { var isWait: Bool { self == .wait } }
extension CommitPipeline.FileAction: CommitPipelineAction {
    var isWait: Bool { if case .wait = self { true } else { false } }
}
