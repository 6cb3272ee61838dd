import ArgumentParser
import LedgerEngine

/// Prints the head of the SHA-256 chain over every committed group, so an
/// auditor can record it and later check that `verify` still reproduces it
/// (Specs/wal-format.md, "Hash chain"), and every sealed month's root
/// (Specs/segment-format.md, "Seal record"), recomputed by the same verify.
struct DigestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest", abstract: "Print the SHA-256 chain head over all committed groups and every sealed month's root, after a full verify.")

    @OptionGroup var directory: DataDirectoryOptions
    @OptionGroup var remote: RemoteOptions

    func run() throws {
        // A running server's chain head and roots as it holds them (not
        // recomputed: "verified" is false).
        if remote.isRemote { return try RemoteAdmin.run(.digest, remote) }
        try runReportingErrors {
            let report = try Verifier.verify(at: directory.dataDirectory)
            print(
                JSONValue.object([
                    ("lsn", .string(String(report.chainLSN))), ("chain", .string(report.chainHead)),
                    ("months", .array(report.sealedMonths.map { .object([("month", .string($0.month)), ("root", .string($0.root))]) })),
                    ("verified", .bool(report.passed)),
                ]).text)
            if !report.passed {
                for problem in report.problems where problem.severity == .error { printError(problem.description) }
                throw ExitCode(1)
            }
        }
    }
}
