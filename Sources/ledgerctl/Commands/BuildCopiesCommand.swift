import ArgumentParser
import LedgerEngine

/// `ledgerctl build-copies`: builds the account-ordered copy of every sealed
/// month held as a segment that has none (Specs/account-copy-format.md), so
/// a history page reads one stretch of disk instead of ~130 scattered
/// records. A running server does the same in the background
/// (`--account-copies`). Derived files: a damaged copy is deleted by the
/// operator (verify names it) and built again here.
struct BuildCopiesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-copies", abstract: "Build the account-ordered copy of every sealed, unarchived month that has none.")

    @OptionGroup var directory: DataDirectoryOptions

    func run() throws {
        try runReportingErrors {
            let ledger = try openLedger(directory)
            let results = try ledger.buildAccountCopies()
            try ledger.close()
            for result in results {
                print(
                    JSONValue.object([("month", .string(result.month.description)), ("refs", .int(result.refCount)), ("bytes", .int(result.fileBytes))]).text)
            }
            if results.isEmpty { printWarning("every sealed month held as a segment has its copy already") }
        }
    }
}
