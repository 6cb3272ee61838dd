// Replication in the engine (Specs/replication.md). On a primary: the
// handshake's decision (`replicationStart`) and a shipper over its WAL.
//
// A standby's engine: the directory holds
// `standby.signal`, its writes are refused (`notPrimary`), and the primary's
// log arrives as `WALShipper` messages, which `receive` mirrors and applies.
//
// Applying, on the apply thread between reads (it runs as a read of the
// pipeline, so it owns the state machine and the durable side, and no
// group is ever in flight on a standby), in this order: every message
// checked and written into the WAL (WALMirror.swift: nothing of a message
// that fails a check is written) → fdatasync → each record replayed with
// the code recovery uses (every recorded result checked) → index slots
// written with the record's LSN → events filed into the segments (sealing
// and the month chain exactly as on the primary) → `lastLSN` advanced. A
// failed fdatasync, or a record that does not replay as the log recorded
// it, stops the engine (crash-stop); a restart recovers from the log,
// which then names the record.

extension Ledger {
    /// The primary's decision on a standby's `replicate` request. Reads
    /// only durable records (never rewritten) beside the writer: commits go
    /// on meanwhile.
    public func replicationStart(
        standbyTimeline: UInt64, standbyDirectoryID: [UInt8], standbyLastLSN: UInt64, standbyChainValue: [UInt8]
    ) throws -> ReplicationStart {
        guard !isStandby else { throw LedgerError(.notPrimary, "this server is a standby; replicate from its primary") }
        return try ReplicationStart.decide(
            storage: storage, layout: layout, directoryID: meta.directoryID, durableLSN: lastLSN.current, history: timelineHistory,
            standbyTimeline: standbyTimeline, standbyDirectoryID: standbyDirectoryID, standbyLastLSN: standbyLastLSN, standbyChainValue: standbyChainValue)
    }

    /// Ships this WAL from `lsn` on; call `next(throughLSN:)` with at most
    /// `lastLSN.current` (what is durable).
    public func shipper(from lsn: UInt64) -> WALShipper { WALShipper(storage: storage, layout: layout, from: lsn) }

    /// Where this standby's log ends, as the `replicate` request presents it.
    public struct ReplicationPosition: Sendable, Equatable {
        public var directoryID: [UInt8]
        /// The timeline the standby's log ends on.
        public var timeline: UInt64
        /// The last durable (and applied) LSN.
        public var lastLSN: UInt64
        /// The SHA-256 chain value after the last group at or before `lastLSN`.
        public var chainValue: [UInt8]
    }

    public func replicationPosition() throws -> ReplicationPosition {
        try exclusively {
            ReplicationPosition(
                directoryID: self.meta.directoryID, timeline: self.timeline, lastLSN: self.wal.nextLSN - 1, chainValue: self.chain.head)
        }
    }

    /// Mirrors and applies a primary's messages in order; returns the last
    /// LSN now durable and applied. A message that fails a check throws
    /// `corruption` after the messages before it were made durable and
    /// applied; nothing of it is written.
    @discardableResult
    public func receive(_ messages: [WALShipper.Message]) throws -> UInt64 {
        guard isStandby else { throw LedgerError(.notPrimary, "this directory is no longer a standby (promoted): it receives no replicated records") }
        return try exclusively { try self.mirrorAndApply(messages) }
    }

    /// Runs `body` on the apply thread with the state machine and the
    /// durable side to itself (a read, between groups).
    func exclusively<T>(_ body: @escaping () throws -> T) throws -> T {
        try onApplyThread { Result { () throws(any Error) -> T in try body() } }.get()
    }

    private func mirrorAndApply(_ messages: [WALShipper.Message]) throws -> UInt64 {
        var written: [([UInt8], [MirroredRecord])] = []
        var refusal: (any Error)?
        var mirroredChain = chain
        var mirroredTimeline = timeline
        for message in messages {
            do {
                let records = try wal.mirror(message, chain: &mirroredChain, timeline: &mirroredTimeline)
                if case .walRecords(_, _, let bytes) = message { written.append((bytes, records)) }
            } catch {
                refusal = error
                break
            }
        }
        if !written.isEmpty {
            do {
                try wal.sync()
                var walBytes = 0
                for (bytes, records) in written {
                    try apply(records, in: bytes)
                    walBytes += bytes.count
                }
                let snapshotDue = lock.withLock { pipeline.walBytesWritten(walBytes) }
                if snapshotDue { lock.withLock { lock.broadcast() } }
            } catch {
                let stopError = error as? LedgerError ?? LedgerError(.io, "\(error)")
                stop(because: stopError, failing: [])
                throw stopError
            }
            precondition(chain == mirroredChain, "the applied chain head differs from the mirrored one")
            lastLSN.advance(to: wal.nextLSN - 1)
        }
        if let refusal { throw refusal }
        return wal.nextLSN - 1
    }

    /// Replays records already durable in the WAL: state machine, index,
    /// segments (the order in the header).
    private func apply(_ records: [MirroredRecord], in bytes: [UInt8]) throws {
        var results: [ResultCode] = []
        try bytes.withUnsafeBytes { raw in
            for mirrored in records {
                let record = WALRecord(
                    path: "replicated record", offset: mirrored.offsetInBytes, header: mirrored.header,
                    payload: UnsafeRawBufferPointer(rebasing: raw[mirrored.payloadRange]))
                // The mirror checked the SHA-256 link before writing.
                try Self.replayRecord(record, into: &machine, chain: &chain, results: &results, checkChainLink: false, evicted: evicted)
                if record.header.type == WALFormat.recordTypeTimeline, let row = TimelineSwitch.decode(record.payload) {
                    try timelineApplied(row)
                }
                guard record.header.type == WALFormat.recordTypeGroup else { continue }
                let lsn = record.header.lsn
                for slot in machine.takeChangedSlots() { try index.write(machine.accounts[Int(slot)], slot: Int(slot), lsn: lsn) }
                try segments.file(groupPayload: record.payload, lsn: lsn)
                groupsSinceCheckpoint += 1
                if groupsSinceCheckpoint >= options.indexCheckpointGroups {
                    try segments.sync()
                    try index.checkpoint(lsn: lsn)
                    groupsSinceCheckpoint = 0
                }
            }
        }
    }
}

// MARK: - Synchronous commit (primary)

extension Ledger {
    /// A group durable here waits for the standbys (its results copied: the
    /// group's buffers are reused at once).
    func awaitStandbys(_ group: PendingGroup, lsn: UInt64) {
        let ready = syncLock.withLock { synchronous.groupDurable(lsn: lsn, waiters: group.committed(lsn: lsn)) }
        for (completion, committed) in ready { completion(.success(committed)) }
    }

    /// A standby (by replication key id) reports `durableLSN` durable on
    /// its disk: answers the groups now durable on enough standbys.
    public func standbyAcknowledged(_ id: String, durableLSN: UInt64) {
        advanceSlot(id, lsn: durableLSN)
        let ready = syncLock.withLock { synchronous.standbyAcknowledged(id, durableLSN: durableLSN) }
        for (completion, committed) in ready { completion(.success(committed)) }
    }

    /// A standby's stream ended: it counts again once it reports.
    public func standbyDisconnected(_ id: String) { syncLock.withLock { synchronous.standbyDisconnected(id) } }

    /// What synchronous commit waits for (nil reason: nothing waits).
    public var synchronousCommitState: (required: Int, connected: Int, waitingGroups: Int, reason: String?) {
        syncLock.withLock { (synchronous.required, synchronous.standbys.count, synchronous.waitingGroups, synchronous.waitReason) }
    }

    /// Answers every waiting group `notReplicated` (a close or a stop).
    func failUnreplicated(because why: String) {
        let waiting = syncLock.withLock { synchronous.drain() }
        guard !waiting.isEmpty else { return }
        let error = LedgerError(
            .notReplicated, "durable on the primary but not acknowledged by the synchronous standbys before \(why); retry with the same ids")
        for (completion, _) in waiting { completion(.failure(error)) }
    }
}
