import ArgumentParser
import LedgerEngine
import LedgerInput
import LedgerProtocol

/// `ledgerctl archive --before 2026-09 --codec zstd [--level 3]`: compresses
/// every sealed month before the given month into frames with a frame index
/// (Specs/archive-format.md). Crash-safe: an interrupted run leaves each
/// month as a segment, or as both forms, and running it again finishes.
struct ArchiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Compress sealed months before a month into independently decompressible frames; they stay queryable and verifiable.")

    @OptionGroup var directory: DataDirectoryOptions
    @Option(help: "Archive the sealed months before this one (YYYY-MM).") var before: String
    @Option(help: "zstd or lz4.") var codec: String = "zstd"
    @Option(help: "Compression level (zstd 1...19, default 3; lz4 0...12, default 0).") var level: Int?
    @Option(name: .customLong("frame-kib"), help: "Segment bytes per frame, in KiB (4...4096): smaller frames make lookups cheaper and compress worse.")
    var frameKiB: Int = ArchiveFormat.frameBytesTargetDefault >> 10
    @OptionGroup var remote: RemoteOptions

    func run() throws {
        guard let month = parseMonth(before) else { throw ValidationError("--before must look like 2026-09") }
        guard let codec = CompressionCodec(name: codec) else { throw ValidationError("--codec must be zstd or lz4") }
        let level = level ?? codec.defaultLevel
        guard codec.levels.contains(level) else { throw ValidationError("\(codec) levels are \(codec.levels.lowerBound)...\(codec.levels.upperBound)") }
        guard ArchiveFormat.frameBytesTargetRange.contains(frameKiB << 10) else { throw ValidationError("--frame-kib must be 4...4096") }
        if remote.isRemote {
            let command = AdminCommand.archive(beforeYear: UInt16(month.year), beforeMonth: UInt8(month.month), codec: codec.rawValue, level: Int32(level))
            return try RemoteAdmin.run(command, remote)
        }
        try runReportingErrors {
            let ledger = try openLedger(directory)
            let results = try ledger.archive(before: month, codec: codec, level: level, frameBytesTarget: frameKiB << 10)
            try ledger.close()
            for result in results { print(Self.json(result).text) }
            if results.isEmpty { printWarning("no sealed month before \(month) left to archive") }
        }
    }

    static func json(_ result: ArchiveResult) -> JSONValue {
        .object([
            ("month", .string(result.month.description)), ("codec", .string(result.codec.description)), ("level", .int(result.level)),
            ("records", .int(result.recordCount)), ("segmentBytes", .int(result.segmentBytes)), ("archiveBytes", .int(result.archiveBytes)),
            ("frames", .int(result.frameCount)),
        ])
    }
}

/// `ledgerctl restore --month 2026-08`: decompresses an archived month back
/// into its segment (crash-safe the same way).
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restore", abstract: "Decompress an archived month back into its segment.")

    @OptionGroup var directory: DataDirectoryOptions
    @Option(help: "The archived month (YYYY-MM).") var month: String
    @OptionGroup var remote: RemoteOptions

    func run() throws {
        guard let parsed = parseMonth(month) else { throw ValidationError("--month must look like 2026-08") }
        if remote.isRemote { return try RemoteAdmin.run(.restore(year: UInt16(parsed.year), month: UInt8(parsed.month)), remote) }
        try runReportingErrors {
            // Checked before the read-write open, which would write a close record.
            let layout = DataDirectoryLayout(root: directory.dataDirectory)
            let reader = try ReadOnlyDirectory(at: directory.dataDirectory, storage: POSIXStorage())
            let form = try SegmentFiles.months(storage: POSIXStorage(), layout: layout).first { $0.month == parsed }?.form
            reader.close()
            switch form {
            case nil: throw InputError("\(parsed) has no segment and no archive: nothing to restore")
            case .segment: throw InputError("\(parsed) is not archived (it is a segment already): nothing to restore")
            case .archive, .both: break
            }
            let ledger = try openLedger(directory)
            let result = try ledger.restore(month: parsed)
            try ledger.close()
            if let result { print(ArchiveCommand.json(result).text) } else { printWarning("\(parsed) is not archived") }
        }
    }
}

/// `YYYY-MM` as a month.
func parseMonth(_ text: String) -> UTCMonth? { DataDirectoryLayout.month(ofSegmentFileName: text + ".seg") }
