import ArgumentParser
import LedgerEngine

/// `ledgerctl snapshot`: takes a snapshot now and compacts the WAL (the
/// engine also does both on its own every `snapshotIntervalWALBytes`).
/// `ledgerctl compact` is the same operation under the name operators look for.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Write a snapshot of the current state, keep the newest two, and delete the WAL files they and the segments cover.",
        aliases: ["compact"])

    @OptionGroup var directory: DataDirectoryOptions
    @OptionGroup var remote: RemoteOptions

    func run() throws {
        if remote.isRemote { return try RemoteAdmin.run(.snapshot, remote) }
        try runReportingErrors {
            let ledger = try openLedger(directory)
            let result = try ledger.snapshot()
            try ledger.close()
            print(
                JSONValue.object([
                    ("lsn", .string(String(result.lsn))), ("path", .string(result.path)), ("walFilesDeleted", .int(result.walFilesDeleted)),
                ]).text)
        }
    }
}
