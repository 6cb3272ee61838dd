// The API keys file (docs/operations.md, "API keys"; default
// `<data-dir>/api-keys`, mode 0600): per key id, a random salt and
// SHA-256(salt ‖ secret), never the secret. One secret per line:
//
//   <key id> <salt, 32 hex digits> <hash, 64 hex digits> [<events per second>] [role=client|replication|admin]
//
// A key id has one line, or two while its secret is rotated (the old and
// the new secret are both valid until the old one is revoked); its lines
// agree on rate and role. `#` starts a comment line.
import LedgerEngine

public struct KeyEntry: Sendable, Equatable {
    public var id: String
    public var salt: [UInt8]
    public var hash: [UInt8]
    /// 0: unlimited.
    public var eventsPerSecond: Int
    public var role: KeyRole

    public init(id: String, salt: [UInt8], hash: [UInt8], eventsPerSecond: Int = 0, role: KeyRole = .client) {
        precondition(salt.count == 16 && hash.count == 32, "salt \(salt.count) and hash \(hash.count) bytes")
        (self.id, self.salt, self.hash, self.eventsPerSecond, self.role) = (id, salt, hash, eventsPerSecond, role)
    }

    /// Its line in the file.
    public var line: String {
        var fields = [id, KeysFile.hex(salt), KeysFile.hex(hash)]
        if eventsPerSecond > 0 { fields.append("\(eventsPerSecond)") }
        if role != .client { fields.append("role=\(role.rawValue)") }
        return fields.joined(separator: " ")
    }
}

public enum KeysFile {
    public static let keyIDBytes = 1...64
    /// Secrets per key id: two while one is rotated.
    public static let secretsPerKeyMax = 2
    public static let eventsPerSecondMax = 100_000_000
    public static let lineFormat = "<key id> <32 hex digits> <64 hex digits> [<events per second>] [role=client|replication|admin]"

    /// The entries of `text` in file order; a line that breaks the format is
    /// refused with its number.
    public static func parse(_ text: String, path: String) throws -> [KeyEntry] {
        var entries: [KeyEntry] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.hasPrefix("#") && !line.allSatisfy(\.isWhitespace) {
            guard let entry = entry(line) else { throw LedgerError(.invalidInput, "line \(number + 1) is not '\(lineFormat)'", path: path) }
            let same = entries.filter { $0.id == entry.id }
            guard same.count < secretsPerKeyMax else {
                throw LedgerError(.invalidInput, "line \(number + 1): key id '\(entry.id)' has more than \(secretsPerKeyMax) secrets", path: path)
            }
            guard same.allSatisfy({ $0.role == entry.role && $0.eventsPerSecond == entry.eventsPerSecond }) else {
                throw LedgerError(.invalidInput, "line \(number + 1): key id '\(entry.id)' has lines with different roles or rates", path: path)
            }
            entries.append(entry)
        }
        return entries
    }

    /// The file's text for `entries` (one line each, in order).
    public static func text(_ entries: [KeyEntry]) -> String { entries.map { $0.line + "\n" }.joined() }

    private static func entry(_ line: Substring) -> KeyEntry? {
        var fields = line.split(separator: " ")
        var role = KeyRole.client
        if let last = fields.last, last.hasPrefix("role=") {
            guard let named = KeyRole(rawValue: String(last.dropFirst(5))) else { return nil }
            role = named
            fields.removeLast()
        }
        guard fields.count == 3 || fields.count == 4, keyIDBytes.contains(fields[0].utf8.count),
            let salt = hexBytes(fields[1]), salt.count == 16, let hash = hexBytes(fields[2]), hash.count == 32,
            let rate = fields.count == 4 ? Int(fields[3]) : 0, (0...eventsPerSecondMax).contains(rate)
        else { return nil }
        return KeyEntry(id: String(fields[0]), salt: salt, hash: hash, eventsPerSecond: rate, role: role)
    }

    /// A new secret for `id`: its entry and the secret (shown once, never stored).
    public static func newSecret(id: String, eventsPerSecond: Int, role: KeyRole) -> (entry: KeyEntry, secret: [UInt8]) {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return (KeyEntry(id: id, salt: salt, hash: hash(salt: salt, secret: secret), eventsPerSecond: eventsPerSecond, role: role), secret)
    }

    public static func hash(salt: [UInt8], secret: [UInt8]) -> [UInt8] {
        let hasher = SHA256Hasher()
        hasher.update(salt)
        hasher.update(secret)
        return hasher.finish()
    }

    public static func hex(_ bytes: [UInt8]) -> String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    public static func hexBytes<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let byte = UInt8(String(decoding: chars[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }
}
