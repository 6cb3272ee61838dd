import ArgumentParser
import LedgerEngine
import LedgerInput

/// `ledgerctl recover --from-segments`: restores acknowledged groups the WAL
/// lost at its end from the open month's segment (SegmentTailRestore.swift,
/// Specs/wal-format.md). The only repair that writes acknowledged data; it
/// runs offline (the server must be stopped: it takes the directory's lock).
struct RecoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Restore acknowledged groups lost from the WAL's end from the segment that holds them (--from-segments).")

    @OptionGroup var directory: DataDirectoryOptions

    @Flag(name: .customLong("from-segments"), help: "Restore from the open month's segment (required: the only source this command knows).")
    var fromSegments = false

    func run() throws {
        try runReportingErrors {
            guard fromSegments else { throw InputError("recover needs --from-segments (the source of the restored groups)") }
            let report = try SegmentTailRestore.run(at: directory.dataDirectory, log: { printWarning($0) })
            print(
                JSONValue.object([
                    ("restoredFromLSN", .string(String(report.lsns.lowerBound))), ("restoredThroughLSN", .string(String(report.lsns.upperBound))),
                    ("events", .int(report.events)), ("wal", .string(report.walPath)), ("offset", .int(report.offset)),
                    ("replacedBytesKeptIn", report.savedBytesPath.map { .string($0) } ?? .null),
                    ("chainMatchesDamagedRecord", report.chainMatchesDamagedRecord.map { .bool($0) } ?? .null),
                ]).text)
        }
    }
}
