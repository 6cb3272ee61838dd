import ArgumentParser
import LedgerEngine
import LedgerInput

struct LookupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "Show an applied entry by id, from any month: postings, timestamp, LSN and its place in the segments.",
        discussion:
            "Uses the month indexes (bloom filter, then the id table). --wal also lists every attempt with this id still in the WAL, rejected ones included, with their result codes."
    )

    @OptionGroup var directory: DataDirectoryOptions
    @OptionGroup var remote: RemoteOptions
    @Argument(help: "Entry id.") var id: String
    @Flag(help: "Also scan the WAL for every attempt with this id.") var wal = false

    func run() throws {
        try runReportingErrors {
            let entryID = try parseUInt128(id, what: "entry id")
            if remote.isRemote {
                guard !wal else { throw InputError("--wal reads the data directory; it cannot be used with --server") }
                guard let row = try withRemote(remote, { try await $0.lookupEntries([entryID]) })[0] else {
                    printError("entry \(id) not found")
                    throw ExitCode(1)
                }
                print(
                    JSONValue.object([
                        ("entry", row.entry.json), ("timestamp", .string(String(row.timestamp))), ("result", .string("ok")), ("lsn", .string(String(row.lsn))),
                    ]).text)
                return
            }
            let ledger = try openReader(directory)
            let found = try ledger.lookup(entryID: entryID)
            ledger.close()
            if let found {
                print(
                    JSONValue.object([
                        ("entry", found.entry.json), ("timestamp", .string(String(found.timestamp))), ("result", .string("ok")),
                        ("lsn", .string(String(found.lsn))), ("month", .string(found.position.month.description)),
                        ("segmentOffset", .int(found.position.offset)),
                    ]).text)
            }
            var attempts = 0
            if wal {
                for item in try WALSearch.findEntry(id: entryID, at: directory.dataDirectory) {
                    attempts += 1
                    print(
                        JSONValue.object([
                            ("entry", item.entry.json), ("timestamp", .string(String(item.timestamp))),
                            ("result", .string(item.result?.name ?? "unknown")), ("lsn", .string(String(item.lsn))),
                            ("walFile", .string(item.path)), ("recordOffset", .int(item.offset)),
                        ]).text)
                }
            }
            if found == nil && attempts == 0 {
                printError("entry \(id) not found")
                throw ExitCode(1)
            }
        }
    }
}
