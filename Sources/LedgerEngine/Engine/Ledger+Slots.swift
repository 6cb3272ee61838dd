// Replication slots on a primary (ReplicationSlots.swift): created by a base
// backup or a standby's first stream, advanced by its acknowledgments,
// persisted when created, dropped or invalidated and before every
// compaction, and consulted by compaction.

extension Ledger {
    public var replicationSlots: [ReplicationSlot] { slotsLock.withLock { slots } }

    /// Creates (or resets, valid again) the slot of `keyID` at `lsn`, on disk
    /// before it returns.
    public func createSlot(_ keyID: String, lsn: UInt64) throws {
        try slotsLock.withLock {
            var updated = slots.filter { $0.keyID != keyID }
            guard updated.count < ReplicationSlotsFile.slotsMax else {
                throw LedgerError(.invalidInput, "\(ReplicationSlotsFile.slotsMax) replication slots exist; drop one with `ledgerctl slots --drop KEY`")
            }
            updated.append(ReplicationSlot(keyID: keyID, lsn: lsn))
            try ReplicationSlotsFile.write(updated, storage: storage, layout: layout)
            slots = updated
        }
    }

    /// The slot of `keyID`, if any.
    public func slot(_ keyID: String) -> ReplicationSlot? { slotsLock.withLock { slots.first { $0.keyID == keyID } } }

    /// A standby acknowledged `lsn` durable: its slot keeps less from now on
    /// (in memory; on disk at the next compaction or slot change).
    func advanceSlot(_ keyID: String, lsn: UInt64) {
        slotsLock.withLock {
            if let i = slots.firstIndex(where: { $0.keyID == keyID && !$0.invalidated }), slots[i].lsn < lsn { slots[i].lsn = lsn }
        }
    }

    /// Compaction's limit with the slots applied: slots past the cap are
    /// invalidated (logged), and the slots are written before any WAL file
    /// is deleted.
    func slotsCompactionLimit(through: UInt64) throws -> UInt64 {
        try slotsLock.withLock {
            guard !slots.isEmpty else { return through }
            let files = try WALReader(storage: storage, layout: layout).walFiles().map { (firstLSN: $0.firstLSN, bytes: meta.walFileBytes) }
            let (limit, updated) = ReplicationSlot.compactionLimit(
                through: through, slots: slots, files: files, keepBytesMax: options.maxSlotWALKeepBytes)
            for (old, new) in zip(slots, updated) where new.invalidated && !old.invalidated {
                options.log(
                    "replication: slot '\(new.keyID)' at LSN \(new.lsn) would keep more than \(options.maxSlotWALKeepBytes >> 20) MiB of WAL: invalidated; its standby needs a new base backup"
                )
            }
            try ReplicationSlotsFile.write(updated, storage: storage, layout: layout)
            slots = updated
            return limit
        }
    }
}
