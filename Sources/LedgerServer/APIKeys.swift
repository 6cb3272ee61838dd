// API keys: the server stores, per key id, a random salt and
// SHA-256(salt ‖ secret), never the secret. The file (default
// `<data-dir>/api-keys`, mode 0600) has one key per line:
//
//   <key id> <salt, 32 hex digits> <hash, 64 hex digits> [<events per second>]
//
// The optional last field is the key's rate limit (a token bucket holding
// one second of events; absent or 0: unlimited).
//
// Verification hashes and compares in constant time, and an unknown key id
// costs the same work as a wrong secret, so timing tells nothing.
import Foundation
import LedgerEngine
import LedgerProtocol

/// What a key may do (Specs/replication.md, "Key roles"). `client` keys
/// post and read; `replication` keys may only stream the log (and ask for
/// `status`); `admin` keys are reserved for operator commands.
enum KeyRole: String, Sendable, CaseIterable {
    case client, replication, admin

    func allows(_ operation: ProtocolOperation) -> Bool {
        switch operation {
        case .hello, .status: true
        case .createAccounts, .submitEntries, .lookupAccounts, .lookupEntries, .accountHistory, .balanceAsOf: self == .client
        case .replicate, .standbyStatus, .baseBackup: self == .replication
        }
    }
}

struct APIKeys: Sendable {
    struct Key: Sendable {
        var salt: [UInt8]
        var hash: [UInt8]
        /// 0: unlimited.
        var eventsPerSecond: Int = 0
        var role: KeyRole = .client
    }

    private(set) var keys: [String: Key] = [:]
    /// Compared against when the key id is unknown.
    private let decoy = Key(salt: [UInt8](repeating: 0x5a, count: 16), hash: [UInt8](repeating: 0, count: 32))

    init(keys: [String: Key] = [:]) { self.keys = keys }

    static func load(path: String) throws -> APIKeys {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var keys: [String: Key] = [:]
        for (number, line) in text.split(separator: "\n").enumerated() where !line.hasPrefix("#") && !line.isEmpty {
            guard let key = parse(line) else {
                throw LedgerError(
                    .invalidInput,
                    "line \(number + 1) is not '<key id> <32 hex digits> <64 hex digits> [<events per second>] [role=client|replication|admin]'",
                    path: path)
            }
            guard keys[key.id] == nil else { throw LedgerError(.invalidInput, "line \(number + 1): key id '\(key.id)' appears twice", path: path) }
            keys[key.id] = key.key
        }
        return APIKeys(keys: keys)
    }

    /// One line: id, salt, hash, then optionally a rate and a role, in that order.
    private static func parse(_ line: Substring) -> (id: String, key: Key)? {
        var fields = line.split(separator: " ")
        var role = KeyRole.client
        if let last = fields.last, last.hasPrefix("role=") {
            guard let named = KeyRole(rawValue: String(last.dropFirst(5))) else { return nil }
            role = named
            fields.removeLast()
        }
        guard fields.count == 3 || fields.count == 4, ProtocolFormat.keyIDBytes.contains(fields[0].utf8.count),
            let salt = hexBytes(fields[1]), salt.count == 16, let hash = hexBytes(fields[2]), hash.count == 32,
            let rate = fields.count == 4 ? Int(fields[3]) : 0, rate >= 0, rate <= 100_000_000
        else { return nil }
        return (String(fields[0]), Key(salt: salt, hash: hash, eventsPerSecond: rate, role: role))
    }

    /// A new key: its file line and the secret (shown once, never stored).
    static func generate(keyID: String) -> (line: String, secret: [UInt8]) {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return ("\(keyID) \(hex(salt)) \(hex(hash(salt: salt, secret: secret)))", secret)
    }

    func eventsPerSecond(keyID: String) -> Int { keys[keyID]?.eventsPerSecond ?? 0 }

    func role(keyID: String) -> KeyRole { keys[keyID]?.role ?? .client }

    func verify(keyID: String, secret: [UInt8]) -> Bool {
        let key = keys[keyID]
        let candidate = key ?? decoy
        let computed = Self.hash(salt: candidate.salt, secret: secret)
        var difference: UInt8 = 0
        for (a, b) in zip(computed, candidate.hash) { difference |= a ^ b }
        return key != nil && difference == 0
    }

    static func hash(salt: [UInt8], secret: [UInt8]) -> [UInt8] {
        let hasher = SHA256Hasher()
        hasher.update(salt)
        hasher.update(secret)
        return hasher.finish()
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    static func hexBytes<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let byte = UInt8(String(decoding: chars[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }
}
