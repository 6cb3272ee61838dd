import ArgumentParser
import Foundation
import LedgerEngine
import LedgerProtocol

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show on-disk structures.", subcommands: [WAL.self, Segment.self])

    struct Segment: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "segment", abstract: "List a month's segment records (offset, LSN, timestamp, event) with its header, durable frontier and seal.")

        @OptionGroup var directory: DataDirectoryOptions
        @Argument(help: "The month, as YYYY-MM.") var month: String
        @Flag(help: "One JSON object per record.") var json = false
        @Option(help: "Show at most this many records (over --server at most 10,000).") var limit: Int = Int.max
        @OptionGroup var remote: RemoteOptions

        func validate() throws { guard limit >= 1 else { throw ValidationError("--limit must be at least 1") } }

        func run() throws {
            guard let parsed = DataDirectoryLayout.month(ofSegmentFileName: month + ".seg") else {
                throw ValidationError("month must look like 2026-11")
            }
            if remote.isRemote {
                let shown = UInt32(min(limit, Ledger.inspectRecordsMax))
                return try RemoteAdmin.run(.inspect(year: UInt16(parsed.year), month: UInt8(parsed.month), fromLSN: 0, limit: shown), remote)
            }
            try runReportingErrors {
                let layout = DataDirectoryLayout(root: directory.dataDirectory)
                let storage = POSIXStorage()
                let lock = try inspectLock(storage, layout)  // no ledger.meta needed: this investigates
                defer { lock?.release() }
                guard let form = try SegmentFiles.months(storage: storage, layout: layout).first(where: { $0.month == parsed })?.form else {
                    throw LedgerError(.invalidInput, "no segment or archive for \(month)", path: layout.segmentPath(parsed))
                }
                let file = try SegmentFiles.openForReading(parsed, form: form, storage: storage, layout: layout, directoryID: nil)
                defer { file.close() }
                if let archive = file as? ArchivedSegmentFile {
                    let h = archive.header
                    let line =
                        "archive \(archive.path): \(h.codec) level \(h.level), \(h.frameCount) frames of ≥ \(h.frameBytesTarget) bytes, \(h.segmentBytes) segment bytes in \(h.fileBytes) (ratio \(String(format: "%.2f", Double(h.segmentBytes) / Double(h.fileBytes))))"
                    if json { printWarning(line) } else { print(line) }
                } else if form == .both {
                    printWarning("\(parsed) also has an archive (an archival or restore was interrupted); showing the segment")
                }
                var shown = 0
                let scan = try SegmentReader.scan(file: file) { record in
                    guard shown < limit else { return }
                    shown += 1
                    let event = WAL.json(EventBatchReader.decode(record.event, at: 0))
                    if json {
                        print(
                            JSONValue.object([
                                ("offset", .int(record.offset)), ("lsn", .string(String(record.header.lsn))),
                                ("timestamp", .string(String(record.header.timestamp))), ("event", event),
                            ]).text)
                    } else {
                        print("@\(record.offset) LSN \(record.header.lsn) t=\(record.header.timestamp) \(event.text)")
                    }
                }
                let summary =
                    "segment \(parsed): \(scan.recordCount) records, end \(scan.endOffset), durable frontier \(scan.frontier.durableEndOffset) (generation \(scan.frontier.generation), LSN \(scan.frontier.lastLSN))"
                if json { printWarning(summary) } else { print(summary) }
                let link = "previous month \(scan.header.previousMonth.map { "\($0)" } ?? "none")"
                if let seal = scan.seal {
                    let root = seal.monthRoot.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
                    let totals = seal.totals.map { "ledger \($0.ledger): \($0.debitsPosted) debited = \($0.creditsPosted) credited" }.joined(separator: "; ")
                    let line =
                        "sealed at \(scan.sealOffset ?? 0): \(link), LSN \(seal.firstLSN)–\(seal.lastLSN), \(seal.accounts.count) accounts touched, \(seal.holds.count) holds open at month end, \(totals); month root \(root)"
                    if json { printWarning(line) } else { print(line) }
                } else {
                    let line = "open (not sealed), \(link)"
                    if json { printWarning(line) } else { print(line) }
                }
                if let torn = scan.tornTailOffset { printWarning("unsynced tail after \(torn); the next open truncates it and re-files from the WAL") }
            }
        }
    }

    struct WAL: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "wal", abstract: "List WAL records (LSN, file, offset, batches, events, results) and any problem found.")

        @OptionGroup var directory: DataDirectoryOptions
        @Flag(help: "One JSON object per record.") var json = false
        @Flag(help: "Also decode every event with its result.") var events = false
        @Option(help: "Skip records below this LSN.") var fromLsn: UInt64 = 0
        @Option(help: "Show at most this many records (over --server at most 10,000).") var limit: Int = Int.max
        @OptionGroup var remote: RemoteOptions

        func validate() throws { guard limit >= 1 else { throw ValidationError("--limit must be at least 1") } }

        func run() throws {
            if remote.isRemote {
                let shown = UInt32(min(limit, Ledger.inspectRecordsMax))
                return try RemoteAdmin.run(.inspect(year: 0, month: 0, fromLSN: max(1, fromLsn), limit: shown), remote)
            }
            try runReportingErrors {
                let layout = DataDirectoryLayout(root: directory.dataDirectory)
                let storage = POSIXStorage()
                let lock = try inspectLock(storage, layout)  // no ledger.meta needed: this investigates
                defer { lock?.release() }
                var shown = 0
                let scan = try WALReader(storage: storage, layout: layout).scan(mode: .verify) { record in
                    guard record.header.lsn >= fromLsn, shown < limit else { return }
                    shown += 1
                    try show(record)
                }
                for problem in scan.problems {
                    printError("\(problem.path) offset \(problem.offset): \(problem.kind): \(problem.message)")
                }
                if let torn = scan.tornTailOffset {
                    printWarning("torn tail in \(scan.lastFilePath) at offset \(torn): never acknowledged; the next open truncates it")
                }
                if !scan.problems.isEmpty { throw ExitCode(1) }
            }
        }

        func show(_ record: WALRecord) throws {
            let type = record.header.type == WALFormat.recordTypeGroup ? "group" : "close"
            var batches: [JSONValue] = []
            var summary = ""
            if record.header.type == WALFormat.recordTypeGroup {
                var eventTotal = 0
                try WALGroupPayload.forEachBatch(record.payload) { batch in
                    eventTotal += batch.eventCount
                    var fields: [(String, JSONValue)] = [("timestamp", .string(String(batch.timestamp))), ("events", .int(batch.eventCount))]
                    if events {
                        var list: [JSONValue] = []
                        var index = 0
                        EventBatchReader.forEach(batch.events, eventCount: batch.eventCount) { offset, _ in
                            let result = ResultCode(rawValue: batch.results[index])?.name ?? "code\(batch.results[index])"
                            list.append(.object([("event", Self.json(EventBatchReader.decode(batch.events, at: offset))), ("result", .string(result))]))
                            index += 1
                        }
                        fields.append(("decoded", .array(list)))
                    }
                    batches.append(.object(fields))
                }
                summary = "committedLSN=\(WALGroupPayload.committedLSN(record.payload)) batches=\(batches.count) events=\(eventTotal)"
            }
            if json {
                print(
                    JSONValue.object([
                        ("lsn", .string(String(record.header.lsn))), ("type", .string(type)), ("file", .string(record.path)),
                        ("offset", .int(record.offset)), ("payloadBytes", .int(record.header.payloadBytes)),
                        ("crc", .string(String(record.header.crc, radix: 16))), ("batches", .array(batches)),
                    ]).text)
            } else {
                let file = record.path.split(separator: "/").last.map(String.init) ?? record.path
                print(
                    "LSN \(record.header.lsn) \(type) \(file)@\(record.offset) bytes=\(record.header.payloadBytes) crc=\(String(record.header.crc, radix: 16)) \(summary)"
                )
                if events {
                    for batch in batches { print("  " + batch.text) }
                }
            }
        }

        static func json(_ event: Event) -> JSONValue {
            switch event {
            case .createAccount(let a):
                return .object([
                    (
                        "createAccount",
                        .object([("id", .u128(a.id)), ("ledger", .int(Int(a.ledger))), ("code", .int(Int(a.code))), ("flags", .int(Int(a.flags.rawValue)))])
                    )
                ])
            case .closeAccount(let id):
                return .object([("closeAccount", .u128(id))])
            case .createEntry(let e):
                return e.json
            case .expireHold(let id):
                return .object([("expireHold", .u128(id))])
            }
        }
    }
}

/// `inspect` only reads, so it also runs beside a server that holds the
/// directory: without the lock, saying that the open month and the WAL's
/// end may be changing while it reads (what it shows is the files as they
/// are; nothing is written either way).
func inspectLock(_ storage: POSIXStorage, _ layout: DataDirectoryLayout) throws -> (any StorageLock)? {
    do {
        return try storage.lockFileShared(layout.lockPath)
    } catch let error as LedgerError where error.code == .locked {
        printWarning("the directory is in use (a running server): showing its files as they are now; the open month and the WAL's end may change meanwhile")
        return nil
    }
}
