// Online verify (Verify/VerifyLive.swift): the checks run on the calling
// thread against the directory while the engine keeps committing; the
// point they check against is captured on the apply thread between groups
// (segments synced, the state as a copy-on-write value, as a snapshot
// does). Compaction and archival wait until it ends, so no file it reads
// is deleted or replaced under it.

extension Ledger {
    /// Verifies everything up to the durable LSN at the call; throws
    /// `Verifier.Cancelled` when `isCancelled` turns true.
    public func verifyOnline(
        progress: @escaping @Sendable (VerifyProgress) -> Void = { _ in }, isCancelled: @escaping () -> Bool = { false }
    ) throws -> VerifyReport {
        try snapshotLock.withLock {
            try archiveLock.withLock {
                // The entry table stays shared while the checks run (minutes
                // at 50M entries): the live one takes writes in its overlay.
                defer { snapshotHoldsEntries.withLock { $0 = false } }
                let point = try readSegments { segments in
                    try segments.sync()
                    return Verifier.LivePoint(
                        lsn: self.wal.nextLSN - 1, machine: self.captureMachine(), chainHead: self.chain.head, sealed: segments.sealedMonths)
                }
                return try Verifier.verifyLive(storage: storage, layout: layout, meta: meta, at: point, progress: progress, isCancelled: isCancelled)
            }
        }
    }

    public static func isVerifyCancellation(_ error: any Error) -> Bool { error is Verifier.Cancelled }
}
