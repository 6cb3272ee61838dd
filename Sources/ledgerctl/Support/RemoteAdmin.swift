// The operator commands' `--server` forms (snapshot, archive, restore,
// digest, months, job): an `admin` request to a running LedgerServer with an
// admin key. A job is watched until it ends (progress on stderr; Ctrl-C
// leaves it running, `ledgerctl job ID --cancel` stops it), and its
// outcome printed as JSON.
import ArgumentParser
import Dispatch
import Foundation
import LedgerClient
import LedgerProtocol

enum RemoteAdmin {
    /// Runs `command`; returns the JSON object of the answer (after the job
    /// ended, for commands that start one). A failed or cancelled job exits 1.
    static func run(_ command: AdminCommand, _ options: RemoteOptions) throws {
        let answer = try withRemote(options) { client in try await client.admin(command) }
        guard let object = try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any] else {
            printError("the server's answer is not a JSON object")
            throw ExitCode(3)
        }
        guard let id = object["job"] as? Int, object["state"] as? String == "running", command.startsJob else {
            return print(String(decoding: answer, as: UTF8.self))
        }
        try watch(UInt64(id), options)
    }

    static func watch(_ id: UInt64, _ options: RemoteOptions) throws {
        while true {
            let answer = try withRemote(options) { client in try await client.admin(.job(id: id)) }
            let job = (try? JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any]) ?? [:]
            let state = job["state"] as? String ?? "?"
            if let progress = job["progress"] as? [String: Any], state == "running" {
                FileHandle.standardError.write(
                    Data("\rjob \(id): \(progress["done"] ?? 0) of \(progress["total"] ?? 0) \(progress["unit"] ?? "")   ".utf8))
            }
            guard state == "running" else {
                FileHandle.standardError.write(Data("\n".utf8))
                print(String(decoding: answer, as: UTF8.self))
                // A verify that found errors ends "done" with "passed": false.
                if state != "done" || (job["result"] as? [String: Any])?["passed"] as? Bool == false { throw ExitCode(1) }
                return
            }
            usleep(200_000)
        }
    }
}

extension AdminCommand {
    var startsJob: Bool {
        switch self {
        case .snapshot, .archive, .restore, .verify: true
        default: false
        }
    }
}

struct JobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "Show (and wait for) an operator job on a running server (--server, admin key), or cancel it.")
    @OptionGroup var remote: RemoteOptions
    @Argument(help: "The job id.") var id: UInt64
    @Flag(help: "Ask the job to stop at its next step.") var cancel = false
    @Flag(help: "Print the job's state once instead of waiting for it to end.") var noWait = false

    func run() throws {
        guard remote.isRemote else { throw ValidationError("job needs --server (jobs run on a server)") }
        if cancel { return try RemoteAdmin.run(.cancel(id: id), remote) }
        if noWait { return try RemoteAdmin.run(.job(id: id), remote) }
        try RemoteAdmin.watch(id, remote)
    }
}

struct MonthsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "months", abstract: "List a running server's months (--server, admin key): open, sealed, archived or both, with sizes.")
    @OptionGroup var remote: RemoteOptions

    func run() throws {
        guard remote.isRemote else { throw ValidationError("months needs --server; on a stopped directory use `ledgerctl verify` or `inspect segment`") }
        try RemoteAdmin.run(.months, remote)
    }
}
