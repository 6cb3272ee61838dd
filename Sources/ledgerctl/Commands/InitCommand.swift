import ArgumentParser
import LedgerEngine

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a new, empty data directory.")

    @OptionGroup var directory: DataDirectoryOptions

    @Option(help: "Size of each preallocated WAL file in MiB (1 to 1024).")
    var walFileMib: Int = Limits.walFileBytesDefault >> 20

    @Option(
        help:
            "Months of entry records kept in memory for idempotency and settling holds (1 or 2; fixed for the directory's life: older ids are looked up in the sealed months)."
    )
    var residentWindowMonths: Int = 1

    func run() throws {
        guard (1...1024).contains(walFileMib) else { throw ValidationError("--wal-file-mib must be 1 to 1024") }
        guard DataDirectoryMeta.residentWindowMonthsAllowed.contains(residentWindowMonths) else {
            throw ValidationError("--resident-window-months must be 1 or 2")
        }
        try runReportingErrors {
            var options = Ledger.Options()
            options.walFileBytes = walFileMib << 20
            options.residentWindowMonths = residentWindowMonths
            try Ledger.initialize(at: directory.dataDirectory, options: options)
            print("initialized \(directory.dataDirectory)")
        }
    }
}
