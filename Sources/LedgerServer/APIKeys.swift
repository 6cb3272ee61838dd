// The server's API keys, from the keys file (LedgerKeys/KeysFile.swift):
// per key id one or two secrets (two while one is rotated), each a salt and
// SHA-256(salt ‖ secret). Reloadable in place (SIGHUP, sent by `ledgerctl
// key` after a change): connections of other keys are untouched, and a
// revoked key's connections are refused and closed at their next request.
//
// Verification hashes and compares in constant time, and an unknown key id
// costs the same work as a wrong secret, so timing tells nothing.
import Foundation
import LedgerEngine
import LedgerKeys
import LedgerProtocol

final class APIKeys: @unchecked Sendable {
    struct Key: Sendable {
        var salt: [UInt8]
        var hash: [UInt8]
        /// 0: unlimited.
        var eventsPerSecond: Int = 0
        var role: KeyRole = .client
    }

    private let lock = ConditionLock()
    /// Secrets by key id (rate and role are the same on each).
    private var keys: [String: [Key]]
    /// Compared against when the key id is unknown.
    private let decoy = Key(salt: [UInt8](repeating: 0x5a, count: 16), hash: [UInt8](repeating: 0, count: 32))

    /// The file the keys were read from (admin key commands change it).
    let path: String?

    init(keys: [String: Key] = [:]) {
        self.keys = keys.mapValues { [$0] }
        path = nil
    }

    init(entries: [KeyEntry], path: String? = nil) {
        keys = Self.table(entries)
        self.path = path
    }

    static func load(path: String) throws -> APIKeys { APIKeys(entries: try KeysFileEditor.read(path: path), path: path) }

    /// Replaces every key with the file's; on any error keeps the old ones.
    func reload(path: String) throws -> Int {
        let table = Self.table(try KeysFileEditor.read(path: path))
        lock.withLock { keys = table }
        return table.count
    }

    private static func table(_ entries: [KeyEntry]) -> [String: [Key]] {
        Dictionary(grouping: entries, by: \.id).mapValues { $0.map { Key(salt: $0.salt, hash: $0.hash, eventsPerSecond: $0.eventsPerSecond, role: $0.role) } }
    }

    /// A development key's line and secret (`LedgerServer --create-dev-key`).
    static func generate(keyID: String, role: KeyRole = .client) -> (line: String, secret: [UInt8]) {
        let (entry, secret) = KeysFile.newSecret(id: keyID, eventsPerSecond: 0, role: role)
        return (entry.line, secret)
    }

    func contains(keyID: String) -> Bool { lock.withLock { keys[keyID] != nil } }

    func eventsPerSecond(keyID: String) -> Int { lock.withLock { keys[keyID]?.first?.eventsPerSecond ?? 0 } }

    func role(keyID: String) -> KeyRole { lock.withLock { keys[keyID]?.first?.role ?? .client } }

    func verify(keyID: String, secret: [UInt8]) -> Bool {
        let secrets = lock.withLock { keys[keyID] }
        // Always two comparisons, whichever the key has: a rotation does not show.
        var candidates = secrets ?? [decoy]
        while candidates.count < KeysFile.secretsPerKeyMax { candidates.append(decoy) }
        var matched = false
        for candidate in candidates {
            let computed = KeysFile.hash(salt: candidate.salt, secret: secret)
            var difference: UInt8 = 0
            for (a, b) in zip(computed, candidate.hash) { difference |= a ^ b }
            matched = matched || difference == 0
        }
        return secrets != nil && matched
    }

    static func hash(salt: [UInt8], secret: [UInt8]) -> [UInt8] { KeysFile.hash(salt: salt, secret: secret) }
    static func hex(_ bytes: [UInt8]) -> String { KeysFile.hex(bytes) }
    static func hexBytes<S: StringProtocol>(_ text: S) -> [UInt8]? { KeysFile.hexBytes(text) }
}
