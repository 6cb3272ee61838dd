// ledgerctl: creates, inspects and verifies a ledger data directory.
// Commands parse and validate their input, then call LedgerEngine.
import ArgumentParser
import LedgerEngine

@main
struct LedgerCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledgerctl",
        abstract: "Create, query and verify a ledger data directory.",
        discussion: """
            Exit codes: 0 success; 1 verification found problems or an event was rejected \
            (with --fail-on-reject); 2 bad input; 3 the data directory could not be used \
            (locked, corrupt, missing).
            """,
        subcommands: [
            InitCommand.self, AccountCommand.self, PostCommand.self, BalanceCommand.self, HistoryCommand.self, LookupCommand.self,
            VerifyCommand.self, DigestCommand.self, InspectCommand.self, SnapshotCommand.self, ArchiveCommand.self, RestoreCommand.self,
            StressCommand.self, StatusCommand.self,
        ]
    )
}
