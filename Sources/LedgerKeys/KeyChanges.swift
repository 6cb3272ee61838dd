// The key commands' rules, shared by `ledgerctl key` (on the file) and the
// server's `admin` key commands (on its own file, then reloaded): a key id
// is unique; a rotation adds a second secret with the same role and rate;
// `revoke --old` removes the older of two; a secret is returned once.
import LedgerEngine

public enum KeyChanges {
    public struct Summary: Sendable, Equatable {
        public var id: String
        public var role: KeyRole
        public var eventsPerSecond: Int
        public var secrets: Int
    }

    /// A new key; `id` nil or empty: a random one. Returns its id and secret.
    public static func create(_ entries: inout [KeyEntry], id: String?, role: KeyRole, eventsPerSecond: Int) throws -> (id: String, secret: [UInt8]) {
        let keyID = id.flatMap { $0.isEmpty ? nil : $0 } ?? "key-" + KeysFile.hex((0..<4).map { _ in UInt8.random(in: 0...255) })
        guard KeysFile.keyIDBytes.contains(keyID.utf8.count), !keyID.contains(where: { $0 == " " || $0 == "\n" || $0 == "#" }) else {
            throw LedgerError(.invalidInput, "a key id is 1...64 bytes without spaces or '#'")
        }
        guard (0...KeysFile.eventsPerSecondMax).contains(eventsPerSecond) else {
            throw LedgerError(.invalidInput, "a rate is 0...\(KeysFile.eventsPerSecondMax) events per second")
        }
        guard !entries.contains(where: { $0.id == keyID }) else { throw LedgerError(.invalidInput, "key id '\(keyID)' exists (rotate it instead)") }
        let (entry, secret) = KeysFile.newSecret(id: keyID, eventsPerSecond: eventsPerSecond, role: role)
        entries.append(entry)
        return (keyID, secret)
    }

    /// A second secret for `id`; returns it.
    public static func rotate(_ entries: inout [KeyEntry], id: String) throws -> [UInt8] {
        let current = entries.filter { $0.id == id }
        guard let existing = current.first else { throw LedgerError(.invalidInput, "no key id '\(id)'") }
        guard current.count < KeysFile.secretsPerKeyMax else {
            throw LedgerError(.invalidInput, "key '\(id)' is already rotating: revoke its older secret first")
        }
        let (entry, secret) = KeysFile.newSecret(id: id, eventsPerSecond: existing.eventsPerSecond, role: existing.role)
        entries.append(entry)
        return secret
    }

    /// Every secret of `id`, or with `oldOnly` the older of its two.
    public static func revoke(_ entries: inout [KeyEntry], id: String, oldOnly: Bool) throws {
        let indices = entries.indices.filter { entries[$0].id == id }
        guard let first = indices.first else { throw LedgerError(.invalidInput, "no key id '\(id)'") }
        if oldOnly {
            guard indices.count == 2 else { throw LedgerError(.invalidInput, "key '\(id)' has one secret: nothing older to revoke") }
            entries.remove(at: first)
        } else {
            entries.removeAll { $0.id == id }
        }
    }

    /// One row per key id, in file order (never a secret or a hash).
    public static func list(_ entries: [KeyEntry]) -> [Summary] {
        var rows: [Summary] = []
        for entry in entries {
            if let i = rows.firstIndex(where: { $0.id == entry.id }) {
                rows[i].secrets += 1
            } else {
                rows.append(Summary(id: entry.id, role: entry.role, eventsPerSecond: entry.eventsPerSecond, secrets: 1))
            }
        }
        return rows
    }
}
