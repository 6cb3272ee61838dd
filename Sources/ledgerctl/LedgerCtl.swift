// ledgerctl: creates, inspects and verifies a ledger data directory.
// Commands parse and validate their input, then call LedgerEngine.
import ArgumentParser
import Foundation
import LedgerEngine
import LedgerProtocol

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
        version: BuildInfo.versionText(tool: "ledgerctl", protocolVersions: ProtocolFormat.versions),
        subcommands: [
            InitCommand.self, AccountCommand.self, PostCommand.self, BalanceCommand.self, HistoryCommand.self, LookupCommand.self,
            VerifyCommand.self, DigestCommand.self, InspectCommand.self, SnapshotCommand.self, ArchiveCommand.self, RestoreCommand.self,
            BuildCopiesCommand.self,
            StressCommand.self, StatusCommand.self, RecoverCommand.self, BaseBackupCommand.self, SlotsCommand.self, PromoteCommand.self,
            FollowCommand.self, RestoreBackupCommand.self, KeyCommand.self, MonthsCommand.self, JobCommand.self,
        ]
    )

    /// As ArgumentParser's, except that a usage error (an unknown option, a
    /// value out of range: its exit 64 with the whole usage) is docs/cli.md's
    /// bad input: exit 2 and one line naming the problem.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
                FileHandle.standardError.write(Data("ledgerctl: error: \(message)\n".utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
