import ArgumentParser
import LedgerEngine

struct LookupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup", abstract: "Show an entry by id: its postings, timestamp, result and where it is in the WAL.")

    @OptionGroup var directory: DataDirectoryOptions
    @Argument(help: "Entry id.") var id: String

    func run() throws {
        try runReportingErrors {
            let entryID = try parseUInt128(id, what: "entry id")
            let found = try WALSearch.findEntry(id: entryID, at: directory.dataDirectory)
            guard !found.isEmpty else {
                printError("entry \(id) not found")
                throw ExitCode(1)
            }
            for item in found {
                print(JSONValue.object([
                    ("entry", item.entry.json), ("timestamp", .string(String(item.timestamp))),
                    ("result", .string(item.result?.name ?? "unknown")), ("lsn", .string(String(item.lsn))),
                    ("walFile", .string(item.path)), ("recordOffset", .int(item.offset)),
                ]).text)
            }
        }
    }
}
