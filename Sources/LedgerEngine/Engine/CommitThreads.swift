// The commit pipeline's threads. Every decision (grouping, inline or
// pipelined, waiting, exiting, failing) is `CommitPipeline`'s, asked under
// `lock`; this file only carries the decisions out.
//
// - Apply thread: owns the state machine. Takes the next group's batches,
//   applies them (timestamps are assigned here) and encodes one group
//   payload; makes it durable itself when the pipeline says inline, else
//   hands it off. Runs reads between groups.
// - Durability thread: makes handed-off groups durable and answers their
//   callers, in order; passes each to the filing thread.
// - Filing thread: indexes and files each durable group, in order, then
//   frees its buffer (the group is handed back: reads may run).
// - The durable side: while a group is handed off, the WAL writer and
//   chain head belong to the durability thread and the balance index,
//   segment filer and `groupsSinceCheckpoint` to the filing thread; all of
//   it to the apply thread otherwise (`CommitPipeline.durableSideOwner`);
//   to `open` and `close` before the threads start and after they end.
//
// Making a group durable, in this order (`makeDurableAndAnswer`, then
// `deriveAndRelease`; both on the apply thread for an inline group):
// committed LSN and chain value into the payload → WAL append → fdatasync
// → chain head advanced → callers completed (or, with synchronous standbys,
// queued until they acknowledge) → index slots written with the group's LSN
// → group filed into the segments → group handed back (reads may run). A
// caller is completed only after its group's fdatasync returned; a write or
// sync error of the log stops the engine (crash-stop) and fails the group,
// every handed-off group and every queued batch; an error while indexing or
// filing a durable group stops it too, after its callers were answered; a
// restart recovers from the log.

import Dispatch

extension Ledger {
    /// A read gets whether it runs against durable state (false after a
    /// stop); it reads the state machine itself (`Ledger.read`), and on a
    /// standby applies mirrored records the same way (Ledger+Replication.swift).
    typealias Pipeline = CommitPipeline<(EventBatch, Completion), (Bool) -> Void, PendingGroup>

    func startThreads() {
        durableFiledLSN.withLock { $0 = segments.durableFiledLSN }
        // A sealed month's index is written on a thread of its own: its
        // failure stops the engine as a failure on the filing thread would.
        segments.onIndexWriteFailure = { [weak self] error in self?.stop(because: error, failing: []) }
        let apply = Thread { [self] in self.applyLoop() }
        let durability = Thread { [self] in self.durabilityLoop() }
        let filing = Thread { [self] in self.filingLoop() }
        let snapshots: Thread? = pipeline.configuration.snapshotIntervalWALBytes > 0 ? Thread { [self] in self.snapshotLoop() } : nil
        lock.withLock { threads = [snapshots, apply, durability, filing].compactMap { $0 } }
        filing.start()
        durability.start()
        apply.start()
        snapshots?.start()
    }

    /// Asks the pipeline under the lock, waiting on the condition for as long
    /// as the answer is to wait.
    func awaitPipeline<Action: CommitPipelineAction>(_ decide: (inout Pipeline) -> Action) -> Action {
        lock.withLock {
            while true {
                let action = decide(&pipeline)
                if !action.isWait { return action }
                lock.wait()
            }
        }
    }

    // MARK: - Apply thread

    func applyLoop() {
        var batches: [(EventBatch, Completion)] = []
        var reads: [(Bool) -> Void] = []
        var captures: [(Bool) -> Void] = []
        batches.reserveCapacity(1024)
        while true {
            // Room for the hold expiries that may precede each batch: at most
            // the holds that have a timeout.
            let expiryReserve =
                WALFormat.batchHeaderBytes + 8
                + min(Limits.expiriesPerBatchMax, machine.holdsWithTimeoutCount) * (EventFormat.expireHoldBytes + 1)
            guard awaitPipeline({ $0.takeWork(expiryReserveBytes: expiryReserve, batches: &batches, reads: &reads, captures: &captures) }) == .took
            else { break }
            // Captures first: they need no durable state, so they never wait.
            for capture in captures { capture(true) }
            captures.removeAll(keepingCapacity: true)
            if !reads.isEmpty {
                guard case .run(let durable) = awaitPipeline({ $0.readsMayRun() }) else { preconditionFailure("awaited a wait") }
                assert(!durable || lock.withLock { pipeline.durableSideOwner } == .applyThread, "reads while a group is handed off")
                for read in reads { read(durable) }
                reads.removeAll(keepingCapacity: true)
            }
            if batches.isEmpty { continue }
            mergeEntryOverlayStep()
            let carryOn = commit(batches)
            batches.removeAll(keepingCapacity: true)
            if !carryOn { break }
        }
        lock.withLock {
            pipeline.applyThreadFinished()
            lock.broadcast()
        }
    }

    /// Applies and encodes one group, then makes it durable here or hands it
    /// off, as the pipeline decides. False once the engine has stopped.
    private func commit(_ batches: [(EventBatch, Completion)]) -> Bool {
        let group: PendingGroup
        switch awaitPipeline({ $0.acquireGroup() }) {
        case .group(let free): group = free
        case .stopped(let error):
            for (_, completion) in batches { completion(.failure(error)) }
            return false
        case .wait: preconditionFailure("awaited a wait")
        }
        do {
            try applyAndEncode(batches, into: group)
            groupsEncoded += 1
            group.number = groupsEncoded
        } catch {
            // A lookup of an evicted id failed (I/O or corruption in a sealed
            // month): the batch cannot be applied as the log will replay it.
            stop(because: error as? LedgerError ?? LedgerError(.io, "\(error)"), failing: batches.map(\.1))
            return false
        }
        let action = lock.withLock {
            let action = pipeline.groupEncoded(group, payloadBytes: group.payloadBytes)
            if case .handOff = action { lock.broadcast() }
            return action
        }
        switch action {
        case .handOff: return true
        case .makeDurableInline: return makeDurableAndFileInline(group)
        case .fail(let error):
            group.fail(error)
            return false
        }
    }

    /// Applies each batch (timestamps assigned here) and encodes the group's
    /// payload; the committed LSN and chain value are sealed in by
    /// `writeAndSync`.
    private func applyAndEncode(_ batches: [(EventBatch, Completion)], into group: PendingGroup) throws {
        group.reset()
        // The group before this one was handed off already: a lookup in a
        // month this evicts waits for that group's filing, never for this one.
        try Self.evictAtGroupStart(&machine, evicted: evicted)
        WALGroupPayload.begin(group.payloadBuffer)
        var batchCount = 0
        var offset = WALFormat.groupHeaderBytes
        var batchBytesLeft = batches.reduce(0) { $0 + Self.batchPayloadBytes($1.0) }
        for (batch, completion) in batches {
            var timestamp = max(options.clock(), machine.lastTimestamp + 1)
            // Holds due by now expire first, as engine-generated events in a
            // batch of their own, so every expiry is in the log and segments.
            // Room for them was left when the group was cut (takeWork).
            let roomBytes = groupPayloadBytesMax - offset - batchBytesLeft
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
            batchBytesLeft -= Self.batchPayloadBytes(batch)
            group.members.append(GroupMember(completion: completion, resultStart: resultStart, eventCount: batch.eventCount))
        }
        WALGroupPayload.finish(group.payloadBuffer, batchCount: batchCount)
        group.payloadBytes = offset
        for slot in machine.takeChangedSlots() {
            group.changedSlots.append(slot)
            group.changedAccounts.append(machine.accounts[Int(slot)])
        }
    }

    /// Applies `batch` at `timestamp` and writes it, with its results, into
    /// the group payload at `offset`; returns the offset after it.
    private func encode(_ batch: EventBatch, timestamp: UInt64, into group: PendingGroup, at offset: Int) throws -> Int {
        let resultStart = group.results.count
        return try batch.bytes.withUnsafeBytes { events in
            try Self.prepareColdEntries(&machine, evicted: evicted, batch: events, eventCount: batch.eventCount, timestamp: timestamp)
            machine.apply(events, eventCount: batch.eventCount, timestamp: timestamp, results: &group.results)
            return WALGroupPayload.putBatch(
                group.payloadBuffer, at: offset, timestamp: timestamp, eventCount: batch.eventCount, events: events,
                results: group.results[resultStart...])
        }
    }

    // MARK: - Durability (durability thread, or the apply thread inline)

    func durabilityLoop() {
        while case .makeDurable(let group) = awaitPipeline({ $0.nextHandedOffGroup() }) {
            guard makeDurableAndAnswer(group) else { return }
            lock.withLock {
                pipeline.groupSynced(group)
                lock.broadcast()
            }
        }
    }

    // MARK: - Filing thread

    func filingLoop() {
        while case .file(let group) = awaitPipeline({ $0.nextGroupToFile() }) {
            guard deriveAndRelease(group, inline: false) else { return }
        }
    }

    /// Inline: makes `group` durable, answers its callers, files it and
    /// frees its buffer, all on the apply thread. False when it failed (the
    /// engine has stopped).
    private func makeDurableAndFileInline(_ group: PendingGroup) -> Bool {
        makeDurableAndAnswer(group) && deriveAndRelease(group, inline: true)
    }

    /// Writes and syncs `group`, then answers its callers (or, with
    /// synchronous standbys, queues them until the standbys acknowledge).
    /// False when it failed: the engine stopped and the callers failed.
    ///
    /// Callers are answered as soon as the fdatasync returned, before the
    /// balance index and the segments take the group (`deriveAndRelease`):
    /// both are derived from the log and rebuilt from it by recovery, and
    /// reads wait until the group is handed back (`groupDurable`), so none
    /// sees the index or a segment behind the acknowledged state. Filing a
    /// batch of 8,189 entries takes as long as applying it
    /// (Benchmarks/RESULTS.md, issue 13), so it runs on its own thread.
    private func makeDurableAndAnswer(_ group: PendingGroup) -> Bool {
        do {
            group.lsn = try writeAndSync(group)
        } catch let error as LedgerError {
            stop(because: error, failing: group.members.map(\.completion))
            return false
        } catch {
            preconditionFailure("non-LedgerError from writeAndSync: \(error)")
        }
        if options.synchronousStandbys == 0 { group.complete(lsn: group.lsn) } else { awaitStandbys(group, lsn: group.lsn) }
        return true
    }

    /// Indexes and files a durable, answered group, then frees its buffer.
    /// A failure stops the engine; the callers keep their answer, which the
    /// log makes true after a restart. False when it failed.
    private func deriveAndRelease(_ group: PendingGroup, inline: Bool) -> Bool {
        do {
            try derive(group, lsn: group.lsn)
        } catch let error as LedgerError {
            stop(because: error, failing: [])
            return false
        } catch {
            preconditionFailure("non-LedgerError from derive: \(error)")
        }
        lock.withLock {
            if pipeline.groupDurable(group, payloadBytes: group.payloadBytes, inline: inline) { lock.broadcast() }
        }
        return true
    }

    /// Writes and syncs one group (the order in the header); returns its
    /// LSN, durable.
    private func writeAndSync(_ group: PendingGroup) throws -> UInt64 {
        let lsn = wal.nextLSN
        // Every earlier record is durable: that is what the committed LSN says.
        let chainValue = WALGroupPayload.seal(group.payload, lsn: lsn, committedLSN: lsn - 1, chain: chain)
        let appended = try wal.append(type: WALFormat.recordTypeGroup, record: group.record, payloadBytes: group.payloadBytes)
        assert(appended == lsn, "WAL appended LSN \(appended), expected \(lsn)")
        let syncStartNs = options.groupCommitted == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        try wal.sync()
        if let observe = options.groupCommitted {
            observe(GroupCommit(events: group.results.count, walPayloadBytes: group.payloadBytes, syncNs: DispatchTime.now().uptimeNanoseconds - syncStartNs))
        }
        chain.advance(to: chainValue)
        lastLSN.advance(to: lsn)
        capture.groupDurable(number: group.number, lsn: lsn, head: chainValue)
        return lsn
    }

    /// Indexes and files one durable group (the order in the header).
    private func derive(_ group: PendingGroup, lsn: UInt64) throws {
        // Durable: now the index may claim this LSN.
        for (slot, account) in zip(group.changedSlots, group.changedAccounts) {
            try index.write(account, slot: Int(slot), lsn: lsn)
        }
        try segments.file(groupPayload: UnsafeRawBufferPointer(group.payload), lsn: lsn)
        groupsSinceCheckpoint += 1
        if groupsSinceCheckpoint >= options.indexCheckpointGroups {
            try segments.sync()
            let filed = segments.durableFiledLSN
            durableFiledLSN.withLock { $0 = filed }
            try index.checkpoint(lsn: lsn)
            groupsSinceCheckpoint = 0
        }
    }

    // MARK: - Crash-stop

    /// Records the reason (the first one stays) and fails everything not yet
    /// durable: `completions` (held by the caller), the handed-off groups and
    /// the queued work.
    func stop(because error: LedgerError, failing completions: [Completion]) {
        evicted.fail(error)
        capture.stop(because: error)
        lastLSN.close()
        failUnreplicated(because: "the engine stopped (\(error))")
        options.log("engine stopped: \(error)")
        let stranded = lock.withLock {
            let stranded = pipeline.stop(because: error)
            lock.broadcast()
            return stranded
        }
        for completion in completions { completion(.failure(stranded.error)) }
        for group in stranded.groups { group.fail(stranded.error) }
        for work in stranded.work {
            switch work {
            case .batch((_, let completion), _): completion(.failure(stranded.error))
            case .read(let body), .capture(let body): body(false)
            }
        }
    }
}
