// `--standby-of` and the directory must agree before anything opens: a
// directory holding `standby.signal` (made by `ledgerctl basebackup`) runs
// only as a standby, and only such a directory can be one. Starting a
// standby's directory as a primary would fork its history without a
// timeline; promotion is the way (Specs/replication.md).
import Foundation
import LedgerEngine
import LedgerProtocol

struct StandbySetup {
    /// The primary to stream from, with the replication key (nil: a primary).
    var primary: StandbyReceiver.Primary?

    init(standbyOf: String?, keyFile: String?, layout: DataDirectoryLayout) throws {
        let isStandbyDirectory = FileManager.default.fileExists(atPath: layout.standbySignalPath)
        guard let standbyOf else {
            if isStandbyDirectory {
                throw LedgerError(
                    .notPrimary, "this data directory is a standby (standby.signal): start it with --standby-of HOST:PORT", path: layout.root)
            }
            primary = nil
            return
        }
        guard isStandbyDirectory else {
            throw LedgerError(.invalidInput, "--standby-of needs a standby's data directory, made by `ledgerctl basebackup`", path: layout.root)
        }
        guard let colon = standbyOf.lastIndex(of: ":"), let port = Int(standbyOf[standbyOf.index(after: colon)...]), (1...65_535).contains(port)
        else { throw LedgerError(.invalidInput, "--standby-of must be HOST:PORT, not '\(standbyOf)'") }
        let (keyID, secret) = try Self.replicationKey(file: keyFile)
        primary = .init(host: String(standbyOf[..<colon]), port: port, keyID: keyID, secret: secret)
    }

    /// `<key id> <secret hex>` from the file, or `<key id>:<secret hex>` from
    /// $LEDGER_REPLICATION_KEY.
    static func replicationKey(file: String?) throws -> (String, [UInt8]) {
        let text: String
        if let file {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw LedgerError(.invalidInput, "cannot read the replication key file", path: file)
            }
            text = String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: " ", with: ":")
        } else if let value = ProcessInfo.processInfo.environment["LEDGER_REPLICATION_KEY"] {
            text = value
        } else {
            throw LedgerError(.invalidInput, "--standby-of needs the replication key: --replication-key-file or $LEDGER_REPLICATION_KEY")
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, ProtocolFormat.keyIDBytes.contains(parts[0].utf8.count), let secret = APIKeys.hexBytes(parts[1]),
            ProtocolFormat.secretBytes.contains(secret.count)
        else { throw LedgerError(.invalidInput, "the replication key must be '<key id> <secret hex>' (secret 16 to 128 bytes)") }
        return (String(parts[0]), secret)
    }
}
