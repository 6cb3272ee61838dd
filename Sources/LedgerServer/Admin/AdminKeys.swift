// The `admin` key commands (Specs/protocol.md, "Admin operations"): the
// server changes its own keys file (KeysFileEditor: locked, crash-safe) by
// the rules `ledgerctl key` follows (KeyChanges), then reloads its keys at
// once: no restart, other keys' connections untouched. A new secret is in
// the answer once and never stored.
import LedgerEngine
import LedgerKeys
import LedgerProtocol

enum AdminKeys {
    static func run(_ command: AdminCommand, keys: APIKeys) throws -> [String: Any] {
        guard let path = keys.path else { throw AdminRefusal.invalid("this server's keys were not read from a file") }
        switch command {
        case .keyList:
            return [
                "keys": KeyChanges.list(try KeysFileEditor.read(path: path)).map {
                    ["id": $0.id, "role": $0.role.rawValue, "eventsPerSecond": $0.eventsPerSecond, "secrets": $0.secrets] as [String: Any]
                }
            ]
        case .keyCreate(let id, let role, let rate):
            let keyRole: KeyRole = role == 1 ? .client : role == 2 ? .replication : .admin
            let (keyID, secret) = try KeysFileEditor.edit(path: path, create: true) { entries in
                try KeyChanges.create(&entries, id: id, role: keyRole, eventsPerSecond: Int(rate))
            }
            _ = try keys.reload(path: path)
            return ["id": keyID, "role": keyRole.rawValue, "secret": KeysFile.hex(secret)]
        case .keyRotate(let id):
            let secret = try KeysFileEditor.edit(path: path, create: false) { entries in try KeyChanges.rotate(&entries, id: id) }
            _ = try keys.reload(path: path)
            return ["id": id, "secret": KeysFile.hex(secret)]
        case .keyRevoke(let id, let oldOnly):
            try KeysFileEditor.edit(path: path, create: false) { entries in try KeyChanges.revoke(&entries, id: id, oldOnly: oldOnly) }
            _ = try keys.reload(path: path)
            return ["id": id, "revoked": oldOnly ? "older secret" : "key"]
        default:
            preconditionFailure("\(command) is not a key command")
        }
    }
}
