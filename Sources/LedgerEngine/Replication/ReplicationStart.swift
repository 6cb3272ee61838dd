// The primary's decision on a `replicate` request (Specs/replication.md,
// "replicate request", checks 3, 5 and 6): does the standby share this log's
// history up to its last durable LSN, and is the WAL after it still here?
// A pure reading of the primary's files: it writes nothing, and the server
// turns the answer into the stream or a terminal status.

public enum ReplicationStart: Equatable, Sendable {
    /// Stream from this LSN (the standby's last durable LSN + 1).
    case stream(fromLSN: UInt64)
    /// The standby's history is not this log's: a new base backup is needed.
    case diverged(String)
    /// The WAL the standby needs was compacted away.
    case needBaseBackup(String)

    /// Decides for a standby of `standbyDirectoryID` that holds the log
    /// through `standbyLastLSN` with `standbyChainValue` (the chain value
    /// after its last group record at or before that LSN; zeros for none).
    public static func decide(
        storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], durableLSN: UInt64, standbyDirectoryID: [UInt8],
        standbyLastLSN: UInt64, standbyChainValue: [UInt8]
    ) throws -> ReplicationStart {
        guard standbyDirectoryID == directoryID else { return .diverged("the standby belongs to another ledger (directory id differs)") }
        guard standbyLastLSN <= durableLSN else {
            return .diverged("the standby holds LSN \(standbyLastLSN), past this primary's durable end \(durableLSN)")
        }
        let files = try WALReader(storage: storage, layout: layout).walFiles()
        guard let oldest = files.first?.firstLSN else { throw LedgerError(.notInitialized, "no WAL files", path: layout.root) }
        if standbyLastLSN == 0 {
            return oldest == 1 ? .stream(fromLSN: 1) : .needBaseBackup("the WAL from LSN 1 was compacted; start from a base backup")
        }
        guard standbyLastLSN >= oldest else {
            return .needBaseBackup("the standby's LSN \(standbyLastLSN) is before the oldest WAL record kept (LSN \(oldest))")
        }
        guard let chain = try chainValue(through: standbyLastLSN, storage: storage, layout: layout) else {
            return .needBaseBackup("no group record at or before LSN \(standbyLastLSN) is kept, so the standby's history cannot be checked")
        }
        guard chain == standbyChainValue else {
            return .diverged("at LSN \(standbyLastLSN) the standby's chain value differs from this log's: its history is another one")
        }
        return .stream(fromLSN: standbyLastLSN + 1)
    }

    /// The chain value after the last group record at or before `lsn`
    /// (nil when the kept WAL has none). Reads the kept WAL once, checking
    /// every CRC (a handshake is rare; the WAL kept is a few files): a close
    /// record has no chain value, so the value is the last group's before it.
    static func chainValue(through lsn: UInt64, storage: any Storage, layout: DataDirectoryLayout) throws -> [UInt8]? {
        var value: [UInt8]?
        var found = false
        let scan = try WALReader(storage: storage, layout: layout).scan(mode: .verify) { record in
            guard record.header.lsn <= lsn else { return }
            if record.header.type == WALFormat.recordTypeGroup && record.payload.count >= WALFormat.groupHeaderBytes {
                value = WALGroupPayload.chainHash(record.payload)
            }
            found = found || record.header.lsn == lsn
        }
        guard found, scan.problems.isEmpty else {
            throw LedgerError(
                .corruption,
                "LSN \(lsn) cannot be read back from the WAL (\(scan.problems.first?.description ?? "missing")); investigate with `ledgerctl verify`")
        }
        return value
    }
}
