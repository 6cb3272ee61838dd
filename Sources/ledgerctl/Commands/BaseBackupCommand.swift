// `ledgerctl basebackup`: copies a consistent image of a running primary
// over the protocol (Specs/replication.md, "Base backup") into a new
// directory, with a progress line, then verifies it. The result starts as a
// standby (`LedgerServer --standby-of`).
import ArgumentParser
import Foundation
import LedgerEngine
import LedgerProtocol
import LedgerStream

struct BaseBackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "basebackup",
        abstract: "Copy a running primary (--server, a replication key) into a new standby directory (--to), then verify it.")

    @OptionGroup var remote: RemoteOptions
    @Option(help: "The new directory (must not exist).") var to: String

    func run() throws {
        guard remote.isRemote else { throw ValidationError("basebackup copies a running server: give --server HOST:PORT") }
        try runReportingErrors {
            let configuration = try remote.configuration()
            let writer = try BaseBackupWriter(target: to)
            let progress = Progress()
            do {
                let connection = try StreamConnection(
                    host: configuration.host, port: configuration.port, keyID: configuration.keyID, secret: configuration.secret,
                    timeoutMs: Int(remote.deadlineMs))
                try connection.send(operation: .baseBackup, requestID: 1, body: [])
                try receive(connection, into: writer, progress: progress)
                try writer.finish(primary: remote.server!)
            } catch let error as StreamRefused {
                throw LedgerError(.io, "the primary ended the base backup: \(error); \(writer.target).partial holds what arrived")
            } catch let error as SocketError {
                throw LedgerError(.io, "\(error); \(writer.target).partial holds what arrived")
            }
            progress.done()
            let report = try Verifier.verify(at: to)
            guard report.passed else {
                for problem in report.problems where problem.severity == .error { printError(problem.description) }
                throw ExitCode(1)
            }
            print(
                "base backup of \(remote.server!) in \(to): \(writer.bytesWritten) bytes, verified; start it with LedgerServer --standby-of \(remote.server!)")
        }
    }

    private func receive(_ connection: StreamConnection, into writer: BaseBackupWriter, progress: Progress) throws {
        while true {
            switch try ReplicationMessage.decode(connection.readFrame().body) {
            case .backupStart(let imageBytes, _): progress.total = Int(imageBytes)
            case .backupFile(let name, let copyBytes, let totalBytes): try writer.startFile(name: name, copyBytes: Int(copyBytes), totalBytes: Int(totalBytes))
            case .backupData(let offset, let bytes):
                try writer.write(offset: Int(offset), bytes: bytes)
                progress.show(writer.bytesWritten)
            case .backupEnd: return
            case .walFile, .walRecords, .heartbeat: throw StreamRefused(status: nil, message: "a replication message in a base backup")
            }
        }
    }
}

/// One line on standard error, rewritten in place on a terminal; every 10%
/// otherwise.
private final class Progress {
    var total = 0
    private var lastTenth = -1
    private let isTerminal = isatty(2) == 1

    func show(_ bytes: Int) {
        let tenth = total > 0 ? bytes * 10 / total : 0
        let line = "base backup: \(Self.size(bytes)) of \(Self.size(total)) (\(total > 0 ? bytes * 100 / total : 100)%)"
        if isTerminal {
            FileHandle.standardError.write(Data("\r\(line)".utf8))
        } else if tenth != lastTenth {
            FileHandle.standardError.write(Data("\(line)\n".utf8))
            lastTenth = tenth
        }
    }

    func done() { if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) } }

    static func size(_ bytes: Int) -> String { bytes >= 10 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB" }
}
