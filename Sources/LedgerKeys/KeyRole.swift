// What a key may do (Specs/protocol.md, "hello request"; Specs/replication.md,
// "Key roles"). `client` keys post and read; `replication` keys may only
// stream the log and take base backups (and ask for `status`); `admin` keys
// run operator commands (`admin`, Specs/protocol.md) and may not post or read.
import LedgerProtocol

public enum KeyRole: String, Sendable, CaseIterable {
    case client, replication, admin

    public func allows(_ operation: ProtocolOperation) -> Bool {
        switch operation {
        case .hello, .status: true
        case .createAccounts, .submitEntries, .lookupAccounts, .lookupEntries, .accountHistory, .balanceAsOf: self == .client
        case .replicate, .standbyStatus, .baseBackup: self == .replication
        case .admin: self == .admin
        }
    }
}
