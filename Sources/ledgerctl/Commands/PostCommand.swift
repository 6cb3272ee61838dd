import ArgumentParser
import Foundation
import LedgerClient
import LedgerEngine
import LedgerInput

struct PostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "post",
        abstract: "Post events given as JSON lines; print one JSON result line per event.",
        discussion: """
            Each input line is an entry, {"createAccount":{...}} or {"closeAccount":"ID"}. See docs/cli.md. \
            All lines are parsed before anything is posted: one bad line posts nothing.
            """)

    @OptionGroup var directory: DataDirectoryOptions
    @OptionGroup var remote: RemoteOptions
    @Option(help: "Read from this file instead of standard input.") var file: String?
    @Option(help: "Events per batch (1 to \(Limits.batchEventsMax)).") var batchSize: Int = 1_000
    @Flag(help: "Exit 1 when any event is rejected (not ok or exists).") var failOnReject = false

    typealias Line = (line: Int, event: Event)

    func run() throws {
        guard (1...Limits.batchEventsMax).contains(batchSize) else {
            throw ValidationError("--batch-size must be 1 to \(Limits.batchEventsMax)")
        }
        try runReportingErrors {
            let events = try readEvents()
            let printer = ResultPrinter()
            if remote.isRemote {
                try postRemotely(events, printer)
            } else {
                try postLocally(events, printer)
            }
            if printer.rejected && failOnReject { throw ExitCode(1) }
        }
    }

    /// Every input line parsed, before anything is posted. Lines are parsed
    /// from their bytes: invalid UTF-8 is an error on its line, never replaced.
    private func readEvents() throws -> [Line] {
        let input: [UInt8]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw InputError("cannot read \(file)") }
            input = Array(data)
        } else {
            input = Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        var events: [Line] = []
        for (number, line) in input.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let isSpace = { (b: UInt8) in b == 0x20 || b == 0x09 || b == 0x0D }
            let trimmed = Array(line.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
            if trimmed.isEmpty || trimmed[0] == UInt8(ascii: "#") { continue }
            do {
                events.append((number + 1, try EventInput.parse(line: trimmed)))
            } catch let error as InputError {
                throw InputError("line \(number + 1): \(error.message)")
            }
        }
        return events
    }

    /// A request holds accounts or entries, not both: consecutive events of
    /// one kind go together, in order.
    private func postRemotely(_ events: [Line], _ printer: ResultPrinter) throws {
        var start = 0
        while start < events.count {
            let isEntry = { (e: Event) -> Bool in if case .createEntry = e { true } else { false } }
            let kind = isEntry(events[start].event)
            var end = start
            while end < events.count && end - start < batchSize && isEntry(events[end].event) == kind { end += 1 }
            let chunk = events[start..<end]
            let batch = EventBatch(chunk.map(\.event))
            let results: [ResultCode]
            do {
                results = try withRemoteClientErrors(remote) { client in
                    kind ? try await client.submit(batch: batch) : try await client.submitAccounts(batch: batch)
                }
            } catch let error as LedgerClientError {
                printer.notApplied(events[start...], reason: "server \(remote.server ?? ""): \(error)")
                printError("server \(remote.server ?? ""): \(error)")
                throw ExitCode(3)
            }
            printer.results(chunk, results)
            start = end
        }
    }

    private func postLocally(_ events: [Line], _ printer: ResultPrinter) throws {
        let ledger = try openLedger(directory)
        var start = 0
        while start < events.count {
            let chunk = events[start..<min(events.count, start + batchSize)]
            let results: [ResultCode]
            do {
                results = try ledger.submitAndWait(EventBatch(chunk.map(\.event)))
            } catch let error as LedgerError {
                // Unknown whether this chunk's group reached the disk before
                // the failure: its lines say "not applied" only as far as this
                // process knows; a retry with the same ids is safe
                // (idempotent), and `lookup` tells.
                printer.notApplied(events[start...], reason: error.description)
                try? ledger.close()
                throw error
            }
            printer.results(chunk, results)
            start += batchSize
        }
        try ledger.close()
    }
}

/// One JSON result line per input line. When the engine stops (a full disk,
/// a failed sync), the lines not applied say so.
private final class ResultPrinter {
    private(set) var rejected = false

    func results(_ chunk: ArraySlice<PostCommand.Line>, _ results: [ResultCode]) {
        for ((line, event), result) in zip(chunk, results) {
            print(JSONValue.object([("line", .int(line)), ("id", .u128(event.id)), ("result", .string(result.name))]).text)
            if result != .ok && result != .exists { rejected = true }
        }
    }

    func notApplied(_ rest: ArraySlice<PostCommand.Line>, reason: String) {
        for (line, event) in rest {
            print(JSONValue.object([("line", .int(line)), ("id", .u128(event.id)), ("result", .string("notApplied")), ("reason", .string(reason))]).text)
        }
    }
}

extension Event {
    var id: UInt128 {
        switch self {
        case .createAccount(let account): account.id
        case .closeAccount(let id): id
        case .createEntry(let entry): entry.id
        case .expireHold(let id): id
        }
    }
}
