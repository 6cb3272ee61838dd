import ArgumentParser
import Foundation
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

    func run() throws {
        guard (1...Limits.batchEventsMax).contains(batchSize) else {
            throw ValidationError("--batch-size must be 1 to \(Limits.batchEventsMax)")
        }
        try runReportingErrors {
            let input: [UInt8]
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else { throw InputError("cannot read \(file)") }
                input = Array(data)
            } else {
                input = Array(FileHandle.standardInput.readDataToEndOfFile())
            }
            // Lines are parsed from their bytes: invalid UTF-8 is an error on
            // its line, never replaced.
            var events: [(line: Int, event: Event)] = []
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
            // Every line gets a result line: when the engine stops (a full
            // disk, a failed sync), the lines not applied say so.
            let reportNotApplied = { (rest: ArraySlice<(line: Int, event: Event)>, reason: String) in
                for (line, event) in rest {
                    print(JSONValue.object([("line", .int(line)), ("id", .u128(event.id)), ("result", .string("notApplied")), ("reason", .string(reason))]).text)
                }
            }
            var rejected = false
            let report = { (chunk: ArraySlice<(line: Int, event: Event)>, results: [ResultCode]) in
                for ((line, event), result) in zip(chunk, results) {
                    print(JSONValue.object([("line", .int(line)), ("id", .u128(event.id)), ("result", .string(result.name))]).text)
                    if result != .ok && result != .exists { rejected = true }
                }
            }
            if remote.isRemote {
                // A request holds accounts or entries, not both: consecutive
                // events of one kind go together, in order.
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
                        results = try withRemote(remote) { client in
                            kind ? try await client.submit(batch: batch) : try await client.submitAccounts(batch: batch)
                        }
                    } catch {
                        reportNotApplied(events[start...], "\(error)")
                        throw error
                    }
                    report(chunk, results)
                    start = end
                }
            } else {
                let ledger = try openLedger(directory)
                var start = 0
                while start < events.count {
                    let chunk = events[start..<min(events.count, start + batchSize)]
                    let results: [ResultCode]
                    do {
                        results = try ledger.submitAndWait(EventBatch(chunk.map(\.event)))
                    } catch let error as LedgerError {
                        // Unknown whether this chunk's group reached the disk
                        // before the failure: its lines say "not applied" only
                        // as far as this process knows; a retry with the same
                        // ids is safe (idempotent), and `lookup` tells.
                        reportNotApplied(events[start...], error.description)
                        try? ledger.close()
                        throw error
                    }
                    report(chunk, results)
                    start += batchSize
                }
                try ledger.close()
            }
            if rejected && failOnReject { throw ExitCode(1) }
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
