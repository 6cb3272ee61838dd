import ArgumentParser
import LedgerEngine

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a new, empty data directory.")

    @OptionGroup var directory: DataDirectoryOptions

    @Option(help: "Size of each preallocated WAL file in MiB (1 to 1024).")
    var walFileMib: Int = Limits.walFileBytesDefault >> 20

    func run() throws {
        guard (1...1024).contains(walFileMib) else { throw ValidationError("--wal-file-mib must be 1 to 1024") }
        try runReportingErrors {
            var options = Ledger.Options()
            options.walFileBytes = walFileMib << 20
            try Ledger.initialize(at: directory.dataDirectory, options: options)
            print("initialized \(directory.dataDirectory)")
        }
    }
}
