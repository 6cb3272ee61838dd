// `ledgerctl promote`: a standby becomes a primary on a new timeline
// (Specs/replication.md, "Promotion and timelines"). A stopped directory is
// promoted in place; a running standby server (it holds the directory's
// lock and wrote its pid into LOCK) is sent SIGUSR2 and watched until its
// `standby.signal` is gone. `ledgerctl follow` is the way back: it marks a
// former primary as a standby of the new one (offline).
import ArgumentParser
import Foundation
import LedgerEngine

struct PromoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Promote a standby to a primary on a new timeline (a running server is signalled, a stopped directory is promoted in place).")

    @OptionGroup var directory: DataDirectoryOptions
    @Option(help: "Seconds to wait for a running server to promote (1-600).") var waitSeconds = 30

    func validate() throws {
        guard (1...600).contains(waitSeconds) else { throw ValidationError("--wait-seconds must be 1...600") }
    }

    func run() throws {
        try runReportingErrors {
            let layout = DataDirectoryLayout(root: directory.dataDirectory)
            guard FileManager.default.fileExists(atPath: layout.standbySignalPath) else {
                throw LedgerError(.invalidInput, "this directory is not a standby (no standby.signal): nothing to promote", path: layout.root)
            }
            let ledger: Ledger
            do {
                ledger = try openLedger(directory)
            } catch let error as LedgerError where error.code == .locked {
                return try signalRunningServer(layout)
            }
            let row: TimelineSwitch
            do {
                row = try ledger.promote()
            } catch {
                try? ledger.close()
                throw error
            }
            try ledger.close()
            print(
                "promoted: timeline \(row.timeline) forks from timeline \(row.previousTimeline) after LSN \(row.forkLSN); start the server without --standby-of"
            )
        }
    }

    private func signalRunningServer(_ layout: DataDirectoryLayout) throws {
        guard let pid = POSIXStorage.lockHolderPID(layout.lockPath), pid > 1 else {
            throw LedgerError(.locked, "the directory is in use, and its LOCK file names no process to signal", path: layout.lockPath)
        }
        guard kill(pid, SIGUSR2) == 0 else {
            throw LedgerError(.io, "cannot signal the server (pid \(pid)) holding the directory", path: layout.lockPath, errno: errno)
        }
        let deadline = Date().addingTimeInterval(Double(waitSeconds))
        while FileManager.default.fileExists(atPath: layout.standbySignalPath) {
            guard Date() < deadline else {
                throw LedgerError(.io, "the server (pid \(pid)) did not promote within \(waitSeconds) s; see its log", path: layout.root)
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let history = try TimelineHistoryFile.read(storage: POSIXStorage(), layout: layout)
        let forked = history.rows.last.map { " (forked after LSN \($0.forkLSN))" } ?? ""
        print("promoted: the server (pid \(pid)) takes writes on timeline \(history.current)\(forked)")
    }
}

struct FollowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Make a stopped former primary a standby of a new primary (writes standby.signal); the primary checks its history when it connects.")

    @OptionGroup var directory: DataDirectoryOptions
    @Option(help: "The new primary, HOST:PORT.") var primary: String

    func run() throws {
        try runReportingErrors {
            let layout = DataDirectoryLayout(root: directory.dataDirectory)
            let storage = POSIXStorage()
            guard primary.utf8.count <= 255, let colon = primary.lastIndex(of: ":"), let port = Int(primary[primary.index(after: colon)...]),
                (1...65_535).contains(port), colon != primary.startIndex
            else { throw LedgerError(.invalidInput, "--primary must be HOST:PORT, not '\(primary)'") }
            guard storage.fileExists(layout.metaPath) else { throw LedgerError(.notInitialized, "no ledger here", path: layout.root) }
            let lock = try storage.lockFile(layout.lockPath)
            defer { lock.release() }
            guard !storage.fileExists(layout.standbySignalPath) else {
                throw LedgerError(.invalidInput, "this directory is a standby already (standby.signal)", path: layout.root)
            }
            try storage.replaceFile(layout.standbySignalPath, with: Array("primary=\(primary)\n".utf8), directory: layout.root)
            if storage.fileExists(layout.supersededPath) {
                try storage.removeFile(layout.supersededPath)
                try storage.syncDirectory(layout.root)
            }
            print(
                "this directory is now a standby of \(primary): start it with LedgerServer --standby-of \(primary); if it holds records past the new primary's fork point, the primary answers diverged and it needs a new base backup"
            )
        }
    }
}
