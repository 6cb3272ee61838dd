import ArgumentParser
import LedgerEngine
import LedgerInput

struct AccountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account", abstract: "Create or close accounts.", subcommands: [Create.self, Close.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an account.")
        @OptionGroup var directory: DataDirectoryOptions
        @Option(help: "Account id: non-zero, decimal or 0x hex, up to 128 bits.") var id: String
        @Option(help: "Ledger (currency or asset), e.g. 840 for USD.") var ledger: UInt32
        @Option(help: "User-defined account type.") var code: UInt16 = 0
        @Option(parsing: .upToNextOption, help: "Flags: debits-must-not-exceed-credits, credits-must-not-exceed-debits.")
        var flags: [String] = []
        @Option(help: "128-bit user data.") var userData: String = "0"

        func run() throws {
            try runReportingErrors {
                let account = NewAccount(
                    id: try parseUInt128(id, what: "id"), ledger: ledger, code: code,
                    flags: try EventInput.parseFlags(flags), userData: try parseUInt128(userData, what: "user data"))
                try submitOne(.createAccount(account), directory: directory, label: id)
            }
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close an account: it accepts no new entries.")
        @OptionGroup var directory: DataDirectoryOptions
        @Argument(help: "Account id.") var id: String

        func run() throws {
            try runReportingErrors {
                try submitOne(.closeAccount(try parseUInt128(id, what: "id")), directory: directory, label: id)
            }
        }
    }
}

/// Submits one event, prints its result, exits 1 if it was rejected.
func submitOne(_ event: Event, directory: DataDirectoryOptions, label: String) throws {
    let ledger = try openLedger(directory)
    let results = try ledger.submitAndWait(EventBatch([event]))
    try ledger.close()
    print(JSONValue.object([("id", .string(label)), ("result", .string(results[0].name))]).text)
    if results[0] != .ok && results[0] != .exists { throw ExitCode(1) }
}
