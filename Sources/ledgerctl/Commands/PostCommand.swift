import ArgumentParser
import Foundation
import LedgerEngine

struct PostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "post",
        abstract: "Post events given as JSON lines; print one JSON result line per event.",
        discussion: """
            Each input line is an entry, {"createAccount":{...}} or {"closeAccount":"ID"}. See README. \
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
            let text: String
            if let file {
                guard let data = FileManager.default.contents(atPath: file), let string = String(data: data, encoding: .utf8) else {
                    throw InputError("cannot read \(file) as UTF-8 text")
                }
                text = string
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            var events: [(line: Int, event: Event)] = []
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                do {
                    events.append((number + 1, try EventInput.parse(line: trimmed)))
                } catch let error as InputError {
                    throw InputError("line \(number + 1): \(error.message)")
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
                    let results = try withRemote(remote) { client in
                        kind ? try await client.submit(batch: batch) : try await client.submitAccounts(batch: batch)
                    }
                    report(chunk, results)
                    start = end
                }
            } else {
                let ledger = try openLedger(directory)
                var start = 0
                while start < events.count {
                    let chunk = events[start..<min(events.count, start + batchSize)]
                    report(chunk, try ledger.submitAndWait(EventBatch(chunk.map(\.event))))
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
