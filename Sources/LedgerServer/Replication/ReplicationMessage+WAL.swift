// The engine's shipped WAL messages on the wire (the engine does not know
// the protocol; the server and its tests convert here, in one place).
import LedgerEngine
import LedgerProtocol

extension ReplicationMessage {
    init(_ shipped: WALShipper.Message) {
        switch shipped {
        case .walFile(let header): self = .walFile(header: header)
        case .walRecords(let firstLSN, let offset, let bytes): self = .walRecords(firstLSN: firstLSN, offset: UInt64(offset), records: bytes)
        }
    }
}
