// The engine: a data directory opened for reading and writing.
//
// Tour:
// - `Ledger.initialize` creates a data directory; `Ledger.open` recovers one:
//   lock → meta → delete stray *.tmp → replay the WAL through the state
//   machine (checking every recorded result) → reconcile or rebuild the
//   balance index → start the apply and durability threads.
// - `submit` queues an encoded batch. The apply thread drains the queue into
//   one group: it assigns timestamps, applies each batch and encodes one WAL
//   record. The durability thread writes it, calls fdatasync once, updates the
//   index, and only then completes every caller of the group (group commit).
//   While group N is being synced, group N+1 is being applied (a two-stage
//   pipeline, two group buffers).
// - Any write or sync error stops the engine (crash-stop): the current group
//   and every later submission fail with `stopped`; a restart recovers.
//
// Threading: the state machine is touched only by the apply thread; the WAL
// writer and the index by the durability thread, or by the apply thread for a
// small group while the durability thread has nothing queued or in flight;
// all of them by
// `open`/`close` before the threads start and after they end. Everything they
// share (`queue`, `durableQueue`, `freeGroups`, `groupsInFlight`,
// `stoppedError`) is guarded by `lock`. Reads run on the apply thread when no
// group is in flight, so they never see state that is not yet durable.
#if canImport(Glibc)
import Dispatch
import Glibc
#endif

public final class Ledger: @unchecked Sendable {
    public struct Options: Sendable {
        /// WAL file size for a new directory (`initialize` only).
        public var walFileBytes = Limits.walFileBytesDefault
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
        /// Called on the durability thread after each group's fdatasync
        /// returned (for metrics; must be quick and must not call the engine).
        public var groupCommitted: (@Sendable (GroupCommit) -> Void)?
        public init() {}
    }

    public typealias Completion = (Result<[ResultCode], LedgerError>) -> Void

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
    }

    let storage: any Storage
    public let layout: DataDirectoryLayout
    let options: Options
    let directoryLock: any StorageLock
    let meta: DataDirectoryMeta
    public private(set) var recovery = RecoveryReport()
    /// The largest group payload: `Limits.groupPayloadBytesMax`, or less when
    /// the directory's WAL files are small (a record never spans files). A
    /// batch that cannot fit a group on its own is rejected (`batchTooLarge`).
    public let groupPayloadBytesMax: Int

    // Writer-thread state.
    var machine: LedgerStateMachine
    let wal: WALWriter
    var index: BalanceIndex
    let segments: SegmentFiler
    /// Lookups of entries evicted from the resident window.
    let evicted: EvictedEntries
    /// Head of the SHA-256 chain over committed groups (durability thread).
    var chain: HashChain
    var groupsSinceCheckpoint = 0

    // Shared with submitters; guarded by `lock`.
    private let lock = ConditionLock()
    private var queue: [Work] = []
    private var queueHead = 0
    private var closing = false
    private var stoppedError: LedgerError?
    private var applyThread: Thread?
    private var durabilityThread: Thread?
    private var freeGroups = [PendingGroup(), PendingGroup()]
    private var durableQueue: [PendingGroup] = []
    private var groupsInFlight = 0
    private var applyFinished = false
    private var snapshotThread: Thread?
    private var snapshotWanted = false
    /// Bytes of the newest snapshot (guarded by `lock`): the next automatic
    /// snapshot waits for at least that much WAL, so snapshot writing costs
    /// at most as many bytes as the WAL it makes redundant.
    private var lastSnapshotBytes = 0
    // Durability-thread state: WAL payload bytes since the last automatic snapshot.
    private var walBytesSinceSnapshot = 0
    private let snapshotIntervalWALBytes: Int
    /// Serializes snapshots (automatic and explicit).
    let snapshotLock = ConditionLock()
    /// One archival or restore at a time.
    let archiveLock = ConditionLock()

    enum Work {
        case batch(EventBatch, Completion)
        case read((LedgerStateMachine?) -> Void)
    }

    // MARK: - Creating and opening

    /// Creates a new data directory at `path`. Refuses (`alreadyInitialized`,
    /// nothing written) when the directory holds anything a ledger writes:
    /// every check passes before the first byte is written, so `init` over a
    /// directory whose `ledger.meta` was lost can never empty its WAL.
    ///
    /// Crash-safe order: WAL file, index, then `ledger.meta` by tmp + fsync +
    /// rename + fsync dir. A crash before the rename leaves ledger files
    /// without `ledger.meta`, which open and `init` both refuse, naming them.
    public static func initialize(at path: String, storage: any Storage = POSIXStorage(), options: Options = Options()) throws {
        let layout = DataDirectoryLayout(root: path)
        guard options.walFileBytes >= Limits.walFileBytesMin, options.walFileBytes <= Limits.walFileBytesMax, options.walFileBytes % 4096 == 0 else {
            throw LedgerError(
                .invalidInput, "WAL file size \(options.walFileBytes) must be a multiple of 4096 from \(Limits.walFileBytesMin) to \(Limits.walFileBytesMax)")
        }
        try refuseIfLedgerFilesExist(storage: storage, layout: layout)
        if !storage.fileExists(layout.root) {
            try storage.makeDirectory(layout.root)
        }
        let lock = try storage.lockFile(layout.lockPath)
        defer { lock.release() }
        // Again under the lock: another process may have begun meanwhile.
        try refuseIfLedgerFilesExist(storage: storage, layout: layout)
        var id = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<16 { id[i] = UInt8.random(in: 0...255, using: &rng) }
        let meta = DataDirectoryMeta(walFileBytes: options.walFileBytes, directoryID: id)
        try WALWriter.createFirstFile(storage: storage, layout: layout, fileBytes: options.walFileBytes)
        _ = try BalanceIndex.create(storage: storage, layout: layout, directoryID: id, slotCapacity: BalanceIndexFormat.initialSlotCapacity)
        let temporary = try storage.openFile(layout.metaTemporaryPath, create: true)
        try temporary.write(meta.encoded(), at: 0)
        try temporary.sync()
        temporary.close()
        try storage.rename(layout.metaTemporaryPath, to: layout.metaPath)
        try storage.syncDirectory(layout.root)
    }

    private static func refuseIfLedgerFilesExist(storage: any Storage, layout: DataDirectoryLayout) throws {
        let found = try DataDirectoryMeta.ledgerFiles(storage: storage, layout: layout)
        guard !found.isEmpty else { return }
        if found.contains("ledger.meta") {
            throw LedgerError(.alreadyInitialized, "a ledger already exists here; nothing was changed", path: layout.root)
        }
        throw LedgerError(
            .alreadyInitialized,
            "refusing to initialise: the directory holds ledger files without ledger.meta (\(DataDirectoryMeta.describe(found))); nothing was changed. Investigate with `ledgerctl inspect wal`; an interrupted init leaves ledger.meta.tmp",
            path: layout.root)
    }

    /// Opens and recovers the data directory at `path`.
    public static func open(at path: String, storage: any Storage = POSIXStorage(), options: Options = Options()) throws -> Ledger {
        let layout = DataDirectoryLayout(root: path)
        guard storage.fileExists(layout.root) else {
            throw LedgerError(.notInitialized, "data directory does not exist; `ledgerctl init` creates one", path: layout.root)
        }
        // Before the lock: a directory that is no ledger gets no LOCK file.
        guard storage.fileExists(layout.metaPath) else { throw try DataDirectoryMeta.missingError(storage: storage, layout: layout) }
        let lock = try storage.lockFile(layout.lockPath)
        do {
            do {
                return try Ledger(storage: storage, layout: layout, options: options, lock: lock)
            } catch is ReopenAfterRepair {
                // The repair made the files consistent; recover again from them
                // (a second repair of the same kind would be a bug).
                return try Ledger(storage: storage, layout: layout, options: options, lock: lock)
            }
        } catch let error as LedgerError {
            lock.release()
            throw error.withInvestigationHint()
        } catch {
            lock.release()
            throw error
        }
    }

    /// Thrown by recovery after a repair that invalidates what it has built
    /// in memory (truncating a segment's unsynced tail): open starts over.
    struct ReopenAfterRepair: Error {}

    private init(storage: any Storage, layout: DataDirectoryLayout, options: Options, lock: any StorageLock) throws {
        self.storage = storage
        self.layout = layout
        self.options = options
        self.directoryLock = lock
        let meta = try DataDirectoryMeta.read(storage: storage, layout: layout)
        self.meta = meta
        self.snapshotIntervalWALBytes = options.snapshotIntervalWALBytes ?? 4 * meta.walFileBytes
        self.groupPayloadBytesMax = min(
            Limits.groupPayloadBytesMax, meta.walFileBytes - WALFormat.fileHeaderBytes - WALFormat.recordHeaderBytes - 8)

        var recovered = try Self.recoverState(storage: storage, layout: layout, meta: meta, options: options, readOnly: false)
        var machine = recovered.machine
        var report = recovered.report
        let scan = recovered.scan
        let segments = recovered.segments
        let chain = recovered.chain
        let snapshotUsed = recovered.snapshotUsed
        self.evicted = recovered.evicted
        recovered.machine = LedgerStateMachine()  // one copy of the state, not two
        report.eventsRefiled = segments.eventsFiled
        if segments.eventsFiled > 0 { options.log("segments: re-filed \(segments.eventsFiled) events from the WAL") }
        try segments.sync()
        self.segments = segments
        self.chain = chain
        report.lastLSN = scan.lastLSN
        report.cleanShutdown = scan.endsWithClose
        if let torn = scan.tornTailOffset {
            report.tornTailTruncatedAt = (scan.lastFilePath, torn)
            options.log("WAL: truncating a torn, never-acknowledged tail in \(scan.lastFilePath) at offset \(torn)")
        }
        self.wal = try WALWriter(storage: storage, layout: layout, scan: scan)

        // Reconcile the index with the replayed state, or rebuild it.
        var index: BalanceIndex
        switch try BalanceIndex.open(storage: storage, layout: layout, directoryID: meta.directoryID, walLastLSN: scan.lastLSN) {
        case .valid(let existing):
            index = existing
        case .mustRebuild(let reason):
            report.indexRebuildReason = reason
            options.log("index: rebuilding from the log (\(reason))")
            var capacity = BalanceIndexFormat.initialSlotCapacity
            while capacity < machine.accountCount { capacity *= 2 }
            index = try BalanceIndex.create(storage: storage, layout: layout, directoryID: meta.directoryID, slotCapacity: capacity)
        }
        if index.accountCount > machine.accountCount {
            report.indexRebuildReason = "index holds \(index.accountCount) accounts, the log \(machine.accountCount)"
            options.log("index: rebuilding from the log (\(report.indexRebuildReason!))")
            index = try BalanceIndex.create(storage: storage, layout: layout, directoryID: meta.directoryID, slotCapacity: index.slotCapacity)
        }
        for (slot, account) in machine.accounts.enumerated() {
            if slot < index.accountCount, let (stored, _) = index.readSlot(slot), stored == account { continue }
            try index.write(account, slot: slot, lsn: scan.lastLSN)
            report.indexSlotsRepaired += 1
        }
        if report.indexSlotsRepaired > 0 && report.indexRebuildReason == nil {
            let source = snapshotUsed.map { "the snapshot at LSN \($0.lsn) plus the WAL, cross-checked with the segments" } ?? "the WAL"
            options.log("index: \(report.indexSlotsRepaired) stale slots rewritten from the state recovered from \(source)")
        }
        _ = machine.takeChangedSlots()
        try index.checkpoint(lsn: scan.lastLSN)
        self.index = index
        self.machine = machine
        self.recovery = report

        let apply = Thread { [self] in self.applyLoop() }
        let durability = Thread { [self] in self.durabilityLoop() }
        applyThread = apply
        durabilityThread = durability
        durability.start()
        apply.start()
        if snapshotIntervalWALBytes > 0 {
            let snapshots = Thread { [self] in self.snapshotLoop() }
            snapshotThread = snapshots
            snapshots.start()
        }
    }

    /// Replays every WAL record into `machine` for recovery, checking each
    /// recorded result; the first mismatch is corruption (refuse to open).
    /// `onRecord` sees each record after it was replayed.
    /// With `anchorChain` (a rebuild from segments, no snapshot), the chain
    /// head is taken from the records up to `afterLSN`, or from the first
    /// record after it, instead of being known in advance.
    static func replay(
        storage: any Storage, layout: DataDirectoryLayout, into machine: inout LedgerStateMachine, chain: inout HashChain,
        afterLSN: UInt64 = 0, anchorChain: Bool = false, evicted: EvictedEntries?, onRecord: (WALRecord) throws -> Void
    ) throws -> WALScanResult {
        var results: [ResultCode] = []
        var anchored = !anchorChain
        return try WALReader(storage: storage, layout: layout).scan(mode: .recover) { record in
            // Records up to the snapshot are already in `machine` (they are
            // still offered to `onRecord`: the segments may lag behind).
            guard record.header.lsn > afterLSN else {
                do {
                    if record.header.type == WALFormat.recordTypeGroup {
                        try WALGroupPayload.forEachBatch(record.payload) { _ in }
                        // The snapshot is bound to the log: the chain head it
                        // recorded must be the one of the WAL record at its LSN.
                        if !anchorChain && afterLSN > 0 && record.header.lsn == afterLSN && WALGroupPayload.chainHash(record.payload) != chain.head {
                            throw LedgerError(.corruption, "the snapshot at LSN \(afterLSN) records a SHA-256 chain head that differs from the WAL record at that LSN: the snapshot does not describe this log")
                        }
                        if anchorChain {
                            chain = HashChain(head: WALGroupPayload.chainHash(record.payload))
                            anchored = true
                        }
                    }
                } catch let error as LedgerError {
                    throw LedgerError(.corruption, "\(error.message); investigate with `ledgerctl verify`", path: record.path, offset: record.offset)
                }
                try onRecord(record)
                return
            }
            do {
                try replayRecord(record, into: &machine, chain: &chain, results: &results, checkChainLink: anchored, evicted: evicted)
                anchored = true
            } catch let error as LedgerError {
                throw LedgerError(.corruption, "\(error.message); investigate with `ledgerctl verify`", path: record.path, offset: record.offset)
            }
            try onRecord(record)  // after replay validated the record's structure
        }
    }

    /// Applies one WAL record's batches to `machine` and checks that each
    /// event's result equals the one recorded in the log. Shared by recovery
    /// and `verify`. Throws `corruption` (without a location) on a mismatch.
    static func replayRecord(
        _ record: WALRecord, into machine: inout LedgerStateMachine, chain: inout HashChain, results: inout [ResultCode], checkChainLink: Bool = true,
        evicted: EvictedEntries?
    ) throws {
        guard record.header.type == WALFormat.recordTypeGroup else { return }
        guard record.payload.count >= WALFormat.groupHeaderBytes else {
            throw LedgerError(.corruption, "record LSN \(record.header.lsn): group payload shorter than its header")
        }
        // The CRC only says the bytes are as written; the chain says they are
        // the bytes that were committed, in this order.
        let expected = checkChainLink ? chain.next(lsn: record.header.lsn, payload: record.payload) : WALGroupPayload.chainHash(record.payload)
        guard WALGroupPayload.chainHash(record.payload) == expected else {
            throw LedgerError(.corruption, "record LSN \(record.header.lsn): SHA-256 chain broken (the record's checksum is valid, so it was altered after it was written, or a record before it was)")
        }
        chain.advance(to: expected)
        do {
            try WALGroupPayload.forEachBatch(record.payload) { batch in
                guard batch.timestamp > machine.lastTimestamp else {
                    throw LedgerError(.corruption, "batch timestamp \(batch.timestamp) is not after \(machine.lastTimestamp)")
                }
                results.removeAll(keepingCapacity: true)
                try prepareColdEntries(&machine, evicted: evicted, batch: batch.events, eventCount: batch.eventCount, timestamp: batch.timestamp)
                machine.apply(batch.events, eventCount: batch.eventCount, timestamp: batch.timestamp, results: &results)
                for (index, result) in results.enumerated() where batch.results[index] != result.rawValue {
                    throw LedgerError(.corruption, "replay of event \(index) gives \(result) but the log recorded result code \(batch.results[index])")
                }
            }
        } catch let error as LedgerError {
            throw LedgerError(.corruption, "record LSN \(record.header.lsn): \(error.message)")
        }
    }

    /// Before a batch is applied: evicts what leaves the state machine's
    /// resident window and looks up the batch's ids the window no longer
    /// holds in the sealed months (ResidentWindow.swift). Shared by the
    /// apply thread, recovery and `verify`, so all apply the same way.
    static func prepareColdEntries(
        _ machine: inout LedgerStateMachine, evicted: EvictedEntries?, batch: UnsafeRawBufferPointer, eventCount: Int, timestamp: UInt64
    ) throws {
        guard machine.evictsOldEntries else { return }
        guard let evicted else { preconditionFailure("a machine that evicts needs its evicted entries") }
        try evicted.addEvicted(machine.evictBeforeBatch(endingAt: timestamp + UInt64(eventCount - 1)))
        guard machine.residentSinceNs > 0 else { return }
        let candidates = machine.coldCandidates(batch, eventCount: eventCount)
        guard !candidates.isEmpty else { return }
        let found = try evicted.lookup(candidates, windowStartNs: machine.residentSinceNs)
        if !found.isEmpty { machine.setColdEntries(found) }
    }

    // MARK: - Submitting

    /// Queues `batch`; `completion` runs on the durability thread once the batch is
    /// durable (or the engine has stopped). The batch must be validated
    /// (`EventBatch(validating:)` or built by `EventBatch.append`).
    public func submit(_ batch: EventBatch, completion: @escaping Completion) {
        precondition(batch.eventCount >= 1 && batch.eventCount <= Limits.batchEventsMax, "batch of \(batch.eventCount) events")
        let groupBytes = WALFormat.groupHeaderBytes + Self.batchPayloadBytes(batch)
        guard batch.bytes.count <= Limits.batchBytesMax, groupBytes <= groupPayloadBytesMax else {
            completion(.failure(LedgerError(
                .batchTooLarge,
                "batch of \(batch.bytes.count) bytes exceeds the limit (\(min(Limits.batchBytesMax, groupPayloadBytesMax - WALFormat.groupHeaderBytes - WALFormat.batchHeaderBytes - WALFormat.align8(batch.eventCount))) bytes with this directory's WAL file size)")))
            return
        }
        let rejection: LedgerError? = lock.withLock {
            if let stoppedError { return stoppedError }
            if closing { return LedgerError(.stopped, "the ledger is closing") }
            if queue.count - queueHead >= Limits.commitQueueBatchesMax {
                return LedgerError(.queueFull, "\(Limits.commitQueueBatchesMax) batches are already waiting")
            }
            // Only the apply thread waits for work, and only on an empty
            // queue: a non-empty one was announced when it became so.
            // Broadcasting per submit woke every waiter on this condition
            // (apply, durability, snapshot threads) once per request.
            let wasEmpty = queueHead == queue.count
            queue.append(.batch(batch, completion))
            if wasEmpty { lock.broadcast() }
            return nil
        }
        if let rejection { completion(.failure(rejection)) }
    }

    /// Bytes a batch takes in a group payload (see Specs/wal-format.md).
    static func batchPayloadBytes(_ batch: EventBatch) -> Int {
        WALFormat.batchHeaderBytes + batch.bytes.count + WALFormat.align8(batch.eventCount)
    }

    /// Submits and waits for durability.
    public func submit(_ batch: EventBatch) async throws -> [ResultCode] {
        try await withCheckedThrowingContinuation { continuation in
            submit(batch) { continuation.resume(with: $0) }
        }
    }

    /// Submits and blocks the calling thread until the batch is durable.
    public func submitAndWait(_ batch: EventBatch) throws -> [ResultCode] {
        let done = ConditionLock()
        nonisolated(unsafe) var outcome: Result<[ResultCode], LedgerError>?
        submit(batch) { result in
            done.withLock {
                outcome = result
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
        let done = ConditionLock()
        nonisolated(unsafe) var value: T?
        nonisolated(unsafe) var answered = false
        let rejection: LedgerError? = lock.withLock {
            if let stoppedError { return stoppedError }
            if closing { return LedgerError(.stopped, "the ledger is closing") }
            let wasEmpty = queueHead == queue.count
            defer { if wasEmpty { lock.broadcast() } }  // as in `submit`
            queue.append(.read({ state in
                let result = state.map(body)
                done.withLock {
                    value = result
                    answered = true
                    done.signal()
                }
            }))
            return nil
        }
        if let rejection { throw rejection }
        let answer: T? = done.withLock {
            while !answered { done.wait() }
            return value
        }
        guard let answer else { throw stopReason ?? LedgerError(.stopped, "the engine stopped") }
        return answer
    }

    public func account(id: UInt128) throws -> Account? { try read { $0.account(id: id) } }

    /// What `status` reports: the last durable LSN and the state's counts,
    /// read between groups on the apply thread.
    /// One durable group, as `Options.groupCommitted` reports it.
    public struct GroupCommit: Sendable {
        /// Events in the group (client events and engine expiries).
        public var events: Int
        public var walPayloadBytes: Int
        /// How long the WAL's fdatasync took.
        public var syncNs: UInt64
    }

    public struct Status: Sendable, Equatable {
        public var lastLSN: UInt64
        public var accounts: Int
        public var residentEntries: Int
        public var queueDepthBatches: Int
    }

    public func status() throws -> Status {
        let depth = queueDepthBatches
        return try read { machine in Status(lastLSN: self.wal.nextLSN - 1, accounts: machine.accountCount, residentEntries: machine.entryCount, queueDepthBatches: depth) }
    }

    /// Batches waiting for the apply thread (at most `Limits.commitQueueBatchesMax`).
    public var queueDepthBatches: Int { lock.withLock { queue.count - queueHead } }

    /// Runs `body` against the segments on the apply thread while no group is
    /// in flight (nothing is being filed).
    func readSegments<T>(_ body: @escaping (SegmentFiler) throws -> T) throws -> T {
        let segments = self.segments
        return try read { _ in
            Result { () throws(any Error) -> T in try body(segments) }.mapError { (error: any Error) -> any Error in (error as? LedgerError)?.withInvestigationHint() ?? error }
        }.get()
    }

    /// A page of the account's history (see `SegmentFiler.history`).
    public func history(account: UInt128, fromNs: UInt64 = 0, toNs: UInt64 = .max, afterNs: UInt64? = nil, limit: Int) throws -> HistoryPage {
        try readSegments { try $0.history(account: account, fromNs: fromNs, toNs: toNs, afterNs: afterNs, limit: limit) }
    }

    /// Turns the history read-ahead hint on or off (for A/B benchmarks).
    public func setHistoryReadAhead(_ on: Bool) throws { try readSegments { $0.historyReadAhead = on } }

    /// The account's balances as of a past moment.
    public func balance(account: UInt128, asOfNs: UInt64) throws -> AccountBalances {
        try readSegments { try $0.balance(account: account, asOfNs: asOfNs) }
    }

    /// The applied entry with this id, from any month.
    public func lookup(entryID: UInt128) throws -> (timestamp: UInt64, lsn: UInt64, entry: NewEntry, position: SegmentPosition)? {
        let segments = self.segments
        return try read { machine in
            Result { () throws(any Error) in try segments.lookup(entryID: entryID, openMonthTimestamp: machine.entry(id: entryID)?.timestamp) }
                .mapError { (error: any Error) -> any Error in (error as? LedgerError)?.withInvestigationHint() ?? error }
        }.get()
    }

    /// The entry's record: from the resident window, or looked up in the
    /// sealed months if it was evicted (its hold state is then
    /// `settledLongAgo` for a pending entry).
    public func entry(id: UInt128) throws -> EntryRecord? {
        let evicted = self.evicted
        return try read { machine in
            Result {
                if let record = machine.entry(id: id) { return record }
                guard machine.residentSinceNs > 0 else { return nil }
                return try evicted.lookup([id], windowStartNs: machine.residentSinceNs)[id]
            }
        }.get()
    }

    /// Those of `ids` that are not applied entries, resident or evicted
    /// (for tests that check every acknowledged id survived).
    public func missingEntries(_ ids: [UInt128]) throws -> [UInt128] {
        let evicted = self.evicted
        return try read { machine in
            Result {
                let notResident = ids.filter { machine.entry(id: $0) == nil }
                guard !notResident.isEmpty, machine.residentSinceNs > 0 else { return notResident }
                let found = try evicted.lookup(notResident, windowStartNs: machine.residentSinceNs)
                return notResident.filter { found[$0] == nil }
            }
        }.get()
    }

    /// Finishes queued work, writes a close record, checkpoints the index and
    /// releases the directory lock. Throws the stop reason if the engine had
    /// stopped.
    public func close() throws {
        let threads: [Thread] = lock.withLock {
            closing = true
            lock.broadcast()
            defer {
                applyThread = nil
                durabilityThread = nil
                snapshotThread = nil
            }
            return [snapshotThread, applyThread, durabilityThread].compactMap { $0 }
        }
        for thread in threads { thread.join() }
        defer {
            try? wal.finishPreparing()
            index.close()
            directoryLock.release()
        }
        if let stoppedError = lock.withLock({ stoppedError }) { throw stoppedError }
        let payload = wal.payloadBuffer
        _LE.put(payload, 0, wal.nextLSN - 1)
        let lsn = try wal.append(type: WALFormat.recordTypeClose, payloadBytes: 8)
        try wal.sync()
        try segments.sync()
        try index.checkpoint(lsn: lsn)
    }

    // MARK: - Snapshots and WAL compaction

    /// What `snapshot()` did.
    public struct SnapshotResult: Sendable {
        public var lsn: UInt64
        public var path: String
        public var walFilesDeleted: Int
    }

    /// Snapshots the durable state, keeps the newest `SnapshotFormat.retained`
    /// snapshots, and deletes every WAL file whose records are all covered by
    /// the oldest retained snapshot and by synced segments (so recovery from
    /// either retained snapshot, and re-filing the segments, still find
    /// every record they need). The state is captured on the apply thread
    /// between groups as a copy-on-write value; it is written on the calling
    /// thread while the engine keeps committing. A sync failure stops the
    /// engine (crash-stop).
    @discardableResult
    public func snapshot() throws -> SnapshotResult {
        try snapshotLock.withLock {
            let (machine, lsn, head, filedLSN) = try readSegments { segments in
                try segments.sync()  // the segments must cover what compaction deletes
                return (self.machine, self.wal.nextLSN - 1, self.chain.head, segments.lastFiledLSN)
            }
            do {
                let (path, bytes) = try SnapshotStore.write(machine, lsn: lsn, chainHead: head, directoryID: meta.directoryID, storage: storage, layout: layout)
                lock.withLock { lastSnapshotBytes = bytes }
                try SnapshotStore.prune(storage: storage, layout: layout)
                // WAL stays from the older retained snapshot on, so a damaged
                // newest snapshot can fall back to it; with one snapshot, all stays.
                let retained = try SnapshotStore.list(storage: storage, layout: layout)
                let fallbackLSN = retained.count >= SnapshotFormat.retained ? retained[retained.count - SnapshotFormat.retained].lsn : 0
                let deleted = try compactWAL(through: min(fallbackLSN, filedLSN))
                options.log("snapshot: wrote \(path) (LSN \(lsn)); deleted \(deleted) WAL files")
                return SnapshotResult(lsn: lsn, path: path, walFilesDeleted: deleted)
            } catch let error as LedgerError where error.code == .syncFailed || error.code == .io || error.code == .noSpace {
                stop(because: error, failing: [])
                throw error
            }
        }
    }

    /// Deletes WAL files (never the last) whose records all have LSN ≤ `lsn`.
    private func compactWAL(through lsn: UInt64) throws -> Int {
        let files = try WALReader(storage: storage, layout: layout).walFiles()
        var deleted = 0
        for i in 0..<max(0, files.count - 1) where files[i + 1].firstLSN - 1 <= lsn {
            try storage.removeFile(files[i].path)
            CrashPoints.reached("compaction.walFileDeleted")
            deleted += 1
        }
        if deleted > 0 { try storage.syncDirectory(layout.root) }
        return deleted
    }

    /// Snapshot thread: takes a snapshot whenever the durability thread has
    /// written `snapshotIntervalWALBytes` since the last one.
    private func snapshotLoop() {
        while true {
            let run: Bool = lock.withLock {
                while !snapshotWanted && !closing && stoppedError == nil { lock.wait() }
                let run = snapshotWanted && !closing && stoppedError == nil
                snapshotWanted = false
                return run
            }
            guard run else { return }
            do {
                try snapshot()
            } catch {
                options.log("snapshot: failed: \(error)")
                if stopReason != nil { return }
            }
        }
    }

    /// The reason the engine stopped, if it did.
    public var stopReason: LedgerError? { lock.withLock { stoppedError } }

    // MARK: - The pipeline: apply thread → durability thread

    private struct GroupMember {
        var completion: Completion
        var resultStart: Int
        var eventCount: Int
    }

    /// One group on its way from the apply thread to the durability thread.
    /// Two of them alternate, so the next group is applied and encoded while
    /// the previous one is written and synced; each owns its buffers.
    private final class PendingGroup {
        /// Record header space, then the payload (see Specs/wal-format.md).
        let record: UnsafeMutableRawBufferPointer
        var payloadBytes = 0
        var members: [GroupMember] = []
        var results: [ResultCode] = []
        var changedSlots: [Int32] = []
        var changedAccounts: [Account] = []

        init() {
            // calloc: zeroed pages the kernel provides on first touch, instead
            // of writing 16 MiB of zeros per buffer at every open.
            let bytes = WALFormat.recordBytes(payloadBytes: WALFormat.recordPayloadBytesMax)
            record = UnsafeMutableRawBufferPointer(start: calloc(bytes, 1)!, count: bytes)
            members.reserveCapacity(1024)
            results.reserveCapacity(Limits.batchEventsMax * 2)
        }

        deinit { free(record.baseAddress) }

        var payload: UnsafeMutableRawBufferPointer {
            UnsafeMutableRawBufferPointer(rebasing: record[WALFormat.recordHeaderBytes...])
        }

        func reset() {
            payloadBytes = 0
            members.removeAll(keepingCapacity: true)
            results.removeAll(keepingCapacity: true)
            changedSlots.removeAll(keepingCapacity: true)
            changedAccounts.removeAll(keepingCapacity: true)
        }
    }

    /// Apply thread: owns the state machine. Takes every waiting batch,
    /// applies and encodes them into a free `PendingGroup`, and hands it to
    /// the durability thread. Reads run only when no group is in flight, so
    /// they see durable state.
    private func applyLoop() {
        var reads: [(LedgerStateMachine?) -> Void] = []
        var takenBatches: [(EventBatch, Completion)] = []
        takenBatches.reserveCapacity(1024)

        while true {
            let exit: Bool = lock.withLock {
                while queueHead == queue.count && !closing && stoppedError == nil { lock.wait() }
                if stoppedError != nil || (queueHead == queue.count && closing) { return true }
                var payloadBytes = WALFormat.groupHeaderBytes
                // Room for the hold expiries that may precede each batch: at
                // most the holds that have a timeout (read on this thread,
                // which owns the state machine).
                let expiryReserve = WALFormat.batchHeaderBytes + 8
                    + min(Limits.expiriesPerBatchMax, machine.holdsWithTimeoutCount) * (EventFormat.expireHoldBytes + 1)
                while queueHead < queue.count {
                    switch queue[queueHead] {
                    case .read(let body):
                        reads.append(body)
                    case .batch(let batch, let completion):
                        // Leave room for the hold expiries that may precede it.
                        let bytes = Self.batchPayloadBytes(batch) + expiryReserve
                        if !takenBatches.isEmpty && payloadBytes + bytes > groupPayloadBytesMax { break }
                        payloadBytes += bytes
                        takenBatches.append((batch, completion))
                    }
                    queueHead += 1
                    if !reads.isEmpty && takenBatches.isEmpty { break }  // serve reads promptly
                }
                if queueHead == queue.count {
                    queue.removeAll(keepingCapacity: true)
                    queueHead = 0
                }
                return false
            }
            if exit { break }
            if !reads.isEmpty {
                let durable: Bool = lock.withLock {
                    while groupsInFlight > 0 && stoppedError == nil { lock.wait() }
                    return stoppedError == nil
                }
                for read in reads { read(durable ? machine : nil) }
                reads.removeAll(keepingCapacity: true)
            }
            if takenBatches.isEmpty { continue }

            let group: PendingGroup? = lock.withLock {
                while freeGroups.isEmpty && stoppedError == nil { lock.wait() }
                return stoppedError == nil ? freeGroups.removeLast() : nil
            }
            guard let group else {
                let error = stopReason ?? LedgerError(.stopped, "the engine stopped")
                for (_, completion) in takenBatches { completion(.failure(error)) }
                break
            }
            do {
                try applyAndEncode(takenBatches, into: group)
            } catch {
                // A lookup of an evicted id failed (I/O or corruption in a
                // sealed month): the batch cannot be applied as the log will
                // replay it, so the engine stops.
                let failure = error as? LedgerError ?? LedgerError(.io, "\(error)")
                lock.withLock { freeGroups.append(group) }
                stop(because: failure, failing: takenBatches.map(\.1))
                break
            }
            takenBatches.removeAll(keepingCapacity: true)
            // A small group with nothing in flight gains nothing from the
            // pipeline and would pay a thread hand-off (measured: 10-17% of
            // batch-size-1 throughput, Benchmarks/RESULTS.md), so this thread
            // makes it durable itself. The durability thread is idle then (no
            // group queued or in flight), so WAL and index are never shared.
            let inline: Bool = lock.withLock {
                stoppedError == nil && groupsInFlight == 0 && group.payloadBytes <= options.inlineGroupPayloadBytesMax
            }
            if inline {
                do {
                    try makeDurable(group)
                } catch let error as LedgerError {
                    stop(because: error, failing: group.members.map(\.completion))
                    break
                } catch {
                    preconditionFailure("non-LedgerError from makeDurable: \(error)")
                }
                complete(group)
                lock.withLock { freeGroups.append(group) }
                continue
            }
            let rejected: LedgerError? = lock.withLock {
                if let stoppedError { return stoppedError }
                durableQueue.append(group)
                groupsInFlight += 1
                lock.broadcast()
                return nil
            }
            if let rejected {
                for member in group.members { member.completion(.failure(rejected)) }
                break
            }
        }
        lock.withLock {
            applyFinished = true
            lock.broadcast()
        }
    }

    /// Applies each batch (timestamps assigned here) and encodes the group's
    /// payload. The committed-LSN field is filled in by the durability thread.
    private func applyAndEncode(_ batches: [(EventBatch, Completion)], into group: PendingGroup) throws {
        group.reset()
        let payload = group.payload
        _LE.put(payload, 4, UInt32(0))
        _LE.put(payload, 8, UInt64(0))
        var batchCount = 0
        UnsafeMutableRawBufferPointer(rebasing: payload[HashChain.fieldOffset..<(HashChain.fieldOffset + HashChain.hashBytes)])
            .initializeMemory(as: UInt8.self, repeating: 0)
        var offset = WALFormat.groupHeaderBytes
        for (index, (batch, completion)) in batches.enumerated() {
            var timestamp = max(options.clock(), machine.lastTimestamp + 1)
            // Holds due by now expire first, as engine-generated events in a
            // batch of their own, so every expiry is in the log and segments.
            // Room for them was left when the group was cut (see applyLoop).
            let roomBytes = groupPayloadBytesMax - offset - batches[index...].reduce(0) { $0 + Self.batchPayloadBytes($1.0) }
            let roomEvents = (roomBytes - WALFormat.batchHeaderBytes - 8) / (EventFormat.expireHoldBytes + 1)
            let due = machine.takeHoldsDue(atOrBefore: timestamp, limit: min(Limits.expiriesPerBatchMax, max(0, roomEvents)))
            if !due.isEmpty {
                var expiries = EventBatch()
                for id in due { expiries.appendExpire(id) }
                let expiryResults = group.results.count
                offset = try encode(expiries, timestamp: timestamp, into: group, at: offset)
                batchCount += 1
                assert(group.results[expiryResults...].allSatisfy { $0 == .ok }, "an engine-generated expiry was rejected")
                timestamp = machine.lastTimestamp + 1
            }
            let resultStart = group.results.count
            offset = try encode(batch, timestamp: timestamp, into: group, at: offset)
            batchCount += 1
            group.members.append(GroupMember(completion: completion, resultStart: resultStart, eventCount: batch.eventCount))
        }
        _LE.put(payload, 0, UInt32(batchCount))
        group.payloadBytes = offset
        // The index must get these values with this group's LSN, after its
        // sync; the apply thread may already be changing the accounts again.
        for slot in machine.takeChangedSlots() {
            group.changedSlots.append(slot)
            group.changedAccounts.append(machine.accounts[Int(slot)])
        }
    }

    /// Durability thread: owns the WAL writer and the index. Writes each
    /// group in order, calls fdatasync once, updates the index, and only then
    /// completes the group's callers.
    private func durabilityLoop() {
        while true {
            let next: PendingGroup? = lock.withLock {
                while durableQueue.isEmpty && !applyFinished && stoppedError == nil { lock.wait() }
                if stoppedError != nil || durableQueue.isEmpty { return nil }
                return durableQueue.removeFirst()
            }
            guard let group = next else { return }
            do {
                try makeDurable(group)
            } catch let error as LedgerError {
                stop(because: error, failing: group.members.map(\.completion))
                return
            } catch {
                preconditionFailure("non-LedgerError from makeDurable: \(error)")
            }
            complete(group)
            lock.withLock {
                groupsInFlight -= 1
                freeGroups.append(group)
                lock.broadcast()
            }
        }
    }

    /// Applies `batch` at `timestamp` and appends it, with its results, to the
    /// group payload at `offset`; returns the offset after it.
    private func encode(_ batch: EventBatch, timestamp: UInt64, into group: PendingGroup, at start: Int) throws -> Int {
        let payload = group.payload
        var offset = start
        let resultStart = group.results.count
        try batch.bytes.withUnsafeBytes { events in
            try Self.prepareColdEntries(&machine, evicted: evicted, batch: events, eventCount: batch.eventCount, timestamp: timestamp)
            machine.apply(events, eventCount: batch.eventCount, timestamp: timestamp, results: &group.results)
            _LE.put(payload, offset, timestamp)
            _LE.put(payload, offset + 8, UInt32(batch.eventCount))
            _LE.put(payload, offset + 12, UInt32(events.count))
            offset += WALFormat.batchHeaderBytes
            UnsafeMutableRawBufferPointer(rebasing: payload[offset..<(offset + events.count)]).copyMemory(from: events)
            offset += events.count
        }
        for i in 0..<batch.eventCount { payload[offset + i] = group.results[resultStart + i].rawValue }
        let padded = WALFormat.align8(batch.eventCount)
        for i in batch.eventCount..<padded { payload[offset + i] = 0 }
        return offset + padded
    }

    /// Completes every caller of a durable group with its results.
    private func complete(_ group: PendingGroup) {
        for member in group.members {
            member.completion(.success(Array(group.results[member.resultStart..<(member.resultStart + member.eventCount)])))
        }
    }

    /// Writes, syncs and indexes one group. Runs on the durability thread, or
    /// on the apply thread when that one holds the only group in flight.
    private func makeDurable(_ group: PendingGroup) throws {
        _LE.put(group.payload, 8, wal.nextLSN - 1)  // every earlier record is durable
        let payload = UnsafeMutableRawBufferPointer(rebasing: group.payload[0..<group.payloadBytes])
        let chainValue = chain.next(lsn: wal.nextLSN, payload: UnsafeRawBufferPointer(payload))
        for i in 0..<HashChain.hashBytes { payload[HashChain.fieldOffset + i] = chainValue[i] }
        let lsn = try wal.append(type: WALFormat.recordTypeGroup, record: group.record, payloadBytes: group.payloadBytes)
        let syncStartNs = options.groupCommitted == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        try wal.sync()
        if let observe = options.groupCommitted {
            observe(GroupCommit(events: group.results.count, walPayloadBytes: group.payloadBytes, syncNs: DispatchTime.now().uptimeNanoseconds - syncStartNs))
        }
        chain.advance(to: chainValue)
        // Durable: now the index may claim this LSN.
        for (slot, account) in zip(group.changedSlots, group.changedAccounts) {
            try index.write(account, slot: Int(slot), lsn: lsn)
        }
        try segments.file(
            groupPayload: UnsafeRawBufferPointer(rebasing: group.payload[0..<group.payloadBytes]), lsn: lsn)
        groupsSinceCheckpoint += 1
        walBytesSinceSnapshot += group.payloadBytes
        if snapshotIntervalWALBytes > 0 && walBytesSinceSnapshot >= snapshotIntervalWALBytes {
            lock.withLock {
                guard walBytesSinceSnapshot >= lastSnapshotBytes else { return }
                walBytesSinceSnapshot = 0
                snapshotWanted = true
                lock.broadcast()
            }
        }
        if groupsSinceCheckpoint >= options.indexCheckpointGroups {
            try segments.sync()
            try index.checkpoint(lsn: lsn)
            groupsSinceCheckpoint = 0
        }
    }

    /// Crash-stop: records the reason and fails everything not yet durable.
    func stop(because error: LedgerError, failing completions: [Completion]) {
        evicted.fail(error)
        let stopped = LedgerError(.stopped, "the engine stopped after a fatal error (\(error)); restart to recover from the log", path: error.path, offset: error.offset)
        options.log("engine stopped: \(error)")
        let (queued, groups): ([Work], [PendingGroup]) = lock.withLock {
            stoppedError = stopped
            let rest = Array(queue[queueHead...])
            queue.removeAll()
            queueHead = 0
            let groups = durableQueue
            durableQueue.removeAll()
            lock.broadcast()
            return (rest, groups)
        }
        for completion in completions { completion(.failure(stopped)) }
        for group in groups {
            for member in group.members { member.completion(.failure(stopped)) }
        }
        for work in queued {
            switch work {
            case .batch(_, let completion): completion(.failure(stopped))
            case .read(let body): body(nil)
            }
        }
    }
}
