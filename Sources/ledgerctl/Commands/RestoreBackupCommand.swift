// `ledgerctl restore-backup`: point-in-time restore from a base backup and
// the WAL archive (Specs/replication.md, "Point-in-time restore"). Reads
// both, writes only the new directory.
import ArgumentParser
import Foundation
import LedgerEngine

struct RestoreBackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore-backup",
        abstract: "Rebuild a new directory from a base backup and the WAL archive, up to a time or an LSN (point-in-time restore).")

    @Option(help: "The base backup (made by `ledgerctl basebackup`; only read).") var base: String
    @Option(help: "The WAL archive (`LedgerServer --archive-wal-to`; only read).") var walArchive: String
    @Option(help: "An LSN (digits), or a time in ISO 8601 (2026-12-01T10:00:00.5Z): keep the log up to it.") var until: String
    @Option(help: "The new directory (must not exist).") var to: String

    func run() throws {
        try runReportingErrors {
            let target: RestoreTarget
            if let lsn = UInt64(until) {
                target = .lsn(lsn)
            } else {
                let ns = try parseTime(until)
                target = .time(ns: ns)
            }
            let restore = try PointInTimeRestore(base: base, archive: walArchive, to: to)
            let report: PointInTimeRestore.Report
            do {
                report = try restore.run(until: target, log: { printWarning($0) })
            } catch let error as LedgerError where FileManager.default.fileExists(atPath: DataDirectoryLayout(root: to).root + ".partial") {
                var hinted = error
                hinted.message += "; \(to).partial holds what was built (inspect, then delete it)"
                throw hinted
            }
            let last = report.lastEventNs > 0 ? ", last event at \(formatTime(report.lastEventNs))" : ""
            print(
                "restored \(to): the log through LSN \(report.lastLSN)\(last) (base backup through LSN \(report.baseLastLSN), \(report.archivedFilesUsed) archived WAL files), verified, promoted to timeline \(report.timeline); start it with LedgerServer"
            )
        }
    }
}
