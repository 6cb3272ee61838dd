// `ledgerctl key create|list|revoke|rotate`: API keys in the keys file
// (docs/operations.md, "API keys"), or with `--server` through a running
// server's `admin` key commands (an admin key; the server changes its own
// file and reloads). Each change is written crash-safely
// under a lock (KeysFileEditor); when a server holds the data directory
// (its pid in LOCK), it is sent SIGHUP and reloads its keys without a
// restart and without dropping other keys' connections. A secret is
// printed once and only its salted hash is stored.
import ArgumentParser
import Foundation
import LedgerEngine
import LedgerKeys
import LedgerProtocol

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Create, list, revoke and rotate API keys (the keys file; a running server reloads them).",
        subcommands: [KeyCreateCommand.self, KeyListCommand.self, KeyRevokeCommand.self, KeyRotateCommand.self])
}

/// Where the keys are: `--keys-file`, else `<data-dir>/api-keys`.
struct KeysFileOptions: ParsableArguments {
    @OptionGroup var directory: DataDirectoryOptions
    @Option(help: "The API keys file (default: <data-dir>/api-keys).") var keysFile: String?

    var path: String { keysFile ?? DataDirectoryLayout(root: directory.dataDirectory).apiKeysPath }

    /// Tells a server running on the data directory to reload its keys; says
    /// what happened.
    func notifyServer() {
        let layout = DataDirectoryLayout(root: directory.dataDirectory)
        guard FileManager.default.fileExists(atPath: layout.lockPath) else { return }
        // A lock we can take is held by nobody: the pid in it is stale.
        if let lock = try? POSIXStorage().lockFileShared(layout.lockPath) {
            lock.release()
            return print("no server holds \(layout.root): the change applies at its next start")
        }
        guard let pid = POSIXStorage.lockHolderPID(layout.lockPath), pid > 1, kill(pid, SIGHUP) == 0 else {
            return printWarning("a server holds \(layout.root) but could not be signalled: send it SIGHUP to reload its keys")
        }
        print("LedgerServer (pid \(pid)) reloads its keys now")
    }
}

func validKeyID(_ id: String) throws {
    guard KeysFile.keyIDBytes.contains(id.utf8.count), !id.contains(where: { $0 == " " || $0 == "\n" || $0 == "#" }) else {
        throw ValidationError("a key id is 1...64 bytes without spaces or '#'")
    }
}

struct KeyCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a key; prints its secret once.")
    @OptionGroup var file: KeysFileOptions
    @Option(help: "client (post and read), replication (standbys, base backups) or admin (operator commands).") var role: String = "client"
    @Option(help: "The key id (default: a random one).") var id: String?
    @Option(help: "Events per second the key may post (0: unlimited).") var rate: Int = 0
    @OptionGroup var remote: RemoteOptions

    func validate() throws {
        guard KeyRole(rawValue: role) != nil else { throw ValidationError("--role must be client, replication or admin") }
        guard (0...KeysFile.eventsPerSecondMax).contains(rate) else { throw ValidationError("--rate must be 0...\(KeysFile.eventsPerSecondMax)") }
        if let id { try validKeyID(id) }
    }

    func run() throws {
        if remote.isRemote {
            let code: UInt8 = role == "client" ? 1 : role == "replication" ? 2 : 3
            return try RemoteAdmin.run(.keyCreate(id: id ?? "", role: code, eventsPerSecond: UInt32(rate)), remote)
        }
        try runReportingErrors {
            let (keyID, secret) = try KeysFileEditor.edit(path: file.path, create: true) { entries in
                try KeyChanges.create(&entries, id: id, role: KeyRole(rawValue: role)!, eventsPerSecond: rate)
            }
            print("key id \(keyID), role \(role)\nsecret \(KeysFile.hex(secret))   (shown once: only its salted hash is stored)")
            file.notifyServer()
        }
    }
}

struct KeyListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the keys: id, role, rate, secrets (never a secret).")
    @OptionGroup var file: KeysFileOptions
    @OptionGroup var remote: RemoteOptions

    func run() throws {
        if remote.isRemote { return try RemoteAdmin.run(.keyList, remote) }
        try runReportingErrors {
            for key in KeyChanges.list(try KeysFileEditor.read(path: file.path)) {
                let rate = key.eventsPerSecond == 0 ? "unlimited" : "\(key.eventsPerSecond) events/s"
                let rotating = key.secrets > 1 ? " (rotating: revoke --old when clients moved)" : ""
                print("\(key.id)  role \(key.role.rawValue)  rate \(rate)  secrets \(key.secrets)\(rotating)")
            }
        }
    }
}

struct KeyRevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a key (every secret), or with --old only the older of a rotating key's two secrets.")
    @OptionGroup var file: KeysFileOptions
    @Argument(help: "The key id.") var id: String
    @Flag(help: "Only the older secret of a key being rotated.") var old = false
    @OptionGroup var remote: RemoteOptions

    func validate() throws { try validKeyID(id) }

    func run() throws {
        if remote.isRemote { return try RemoteAdmin.run(.keyRevoke(id: id, oldOnly: old), remote) }
        try runReportingErrors {
            try KeysFileEditor.edit(path: file.path, create: false) { entries in try KeyChanges.revoke(&entries, id: id, oldOnly: old) }
            print(old ? "revoked the older secret of '\(id)'" : "revoked '\(id)'")
            file.notifyServer()
        }
    }
}

struct KeyRotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate", abstract: "Give a key a new secret; old and new both work until `key revoke ID --old`.")
    @OptionGroup var file: KeysFileOptions
    @Argument(help: "The key id.") var id: String
    @OptionGroup var remote: RemoteOptions

    func validate() throws { try validKeyID(id) }

    func run() throws {
        if remote.isRemote { return try RemoteAdmin.run(.keyRotate(id: id), remote) }
        try runReportingErrors {
            let secret = try KeysFileEditor.edit(path: file.path, create: false) { entries in try KeyChanges.rotate(&entries, id: id) }
            print("key id \(id): new secret \(KeysFile.hex(secret))   (shown once; the old one works until `key revoke \(id) --old`)")
            file.notifyServer()
        }
    }
}
