// The bodies of the replication stream (Specs/replication.md): the
// standby's `replicate` request, the messages the primary streams back and
// the standby's status reports. Every decoder checks sizes before it reads
// and throws `malformedBody`.
import LedgerModel

/// `replicate` (64 bytes): who the standby is and the history it holds.
public struct ReplicateRequest: Sendable, Equatable {
    public static let bytes = 64
    public var directoryID: [UInt8]
    public var timeline: UInt64
    /// The standby's last durable LSN (0: none).
    public var lastDurableLSN: UInt64
    /// The SHA-256 chain value of its group record at `lastDurableLSN`.
    public var chainValue: [UInt8]

    public init(directoryID: [UInt8], timeline: UInt64, lastDurableLSN: UInt64, chainValue: [UInt8]) {
        precondition(directoryID.count == 16 && chainValue.count == 32, "directory id and chain value sizes")
        (self.directoryID, self.timeline, self.lastDurableLSN, self.chainValue) = (directoryID, timeline, lastDurableLSN, chainValue)
    }

    public func encoded() -> [UInt8] {
        var out = directoryID
        Wire.append(&out, timeline)
        Wire.append(&out, lastDurableLSN)
        return out + chainValue
    }

    public static func decode(_ body: [UInt8]) throws -> ReplicateRequest {
        guard body.count == bytes else { throw ProtocolError(.malformedBody, "replicate request of \(body.count) bytes, not \(bytes)") }
        return body.withUnsafeBytes { p in
            ReplicateRequest(directoryID: Array(body[0..<16]), timeline: Wire.u64(p, 16), lastDurableLSN: Wire.u64(p, 24), chainValue: Array(body[32..<64]))
        }
    }
}

/// One message of the stream (primary → standby): an 8-byte header (type,
/// 3 zero bytes, body bytes) and its body.
public enum ReplicationMessage: Sendable, Equatable {
    /// A WAL file's first 64 header bytes.
    case walFile(header: [UInt8])
    /// Whole records as on the primary's disk, the first with `firstLSN`,
    /// at `offset` in the current file.
    case walRecords(firstLSN: UInt64, offset: UInt64, records: [UInt8])
    case heartbeat(durableLSN: UInt64, clockNs: UInt64, replyRequested: Bool)

    public static let headerBytes = 8
    static let walFileHeaderBytes = 64

    public func encoded() -> [UInt8] {
        let (type, body): (UInt8, [UInt8])
        switch self {
        case .walFile(let header): (type, body) = (1, header)
        case .walRecords(let firstLSN, let offset, let records):
            var b: [UInt8] = []
            Wire.append(&b, firstLSN)
            Wire.append(&b, offset)
            (type, body) = (2, b + records)
        case .heartbeat(let durableLSN, let clockNs, let replyRequested):
            var b: [UInt8] = []
            Wire.append(&b, durableLSN)
            Wire.append(&b, clockNs)
            (type, body) = (3, b + [replyRequested ? 1 : 0] + [UInt8](repeating: 0, count: 7))
        }
        var out: [UInt8] = [type, 0, 0, 0]
        Wire.append(&out, UInt32(body.count))
        return out + body
    }

    public static func decode(_ bytes: [UInt8]) throws -> ReplicationMessage {
        func bad(_ why: String) -> ProtocolError { ProtocolError(.malformedBody, "replication message: \(why)") }
        guard bytes.count >= headerBytes, bytes[1] == 0, bytes[2] == 0, bytes[3] == 0 else { throw bad("header of \(bytes.count) bytes or non-zero") }
        let bodyBytes = bytes.withUnsafeBytes { Int(Wire.u32($0, 4)) }
        guard bodyBytes == bytes.count - headerBytes else { throw bad("says \(bodyBytes) body bytes, has \(bytes.count - headerBytes)") }
        let body = Array(bytes[headerBytes...])
        switch bytes[0] {
        case 1:
            guard body.count == walFileHeaderBytes else { throw bad("walFile of \(body.count) bytes") }
            return .walFile(header: body)
        case 2:
            guard body.count > 16, (body.count - 16) % 8 == 0 else { throw bad("walRecords of \(body.count) bytes") }
            return body.withUnsafeBytes { .walRecords(firstLSN: Wire.u64($0, 0), offset: Wire.u64($0, 8), records: Array(body[16...])) }
        case 3:
            guard body.count == 24, body[16] <= 1, body[17...].allSatisfy({ $0 == 0 }) else { throw bad("heartbeat malformed") }
            return body.withUnsafeBytes { .heartbeat(durableLSN: Wire.u64($0, 0), clockNs: Wire.u64($0, 8), replyRequested: body[16] == 1) }
        default:
            throw bad("unknown type \(bytes[0])")
        }
    }
}

/// `standbyStatus` (32 bytes, standby → primary): what the standby holds.
public struct StandbyStatus: Sendable, Equatable {
    public static let bytes = 32
    /// fdatasync returned on the standby.
    public var durableLSN: UInt64
    /// Replayed: visible to reads on the standby.
    public var appliedLSN: UInt64
    public var clockNs: UInt64

    public init(durableLSN: UInt64, appliedLSN: UInt64, clockNs: UInt64) {
        (self.durableLSN, self.appliedLSN, self.clockNs) = (durableLSN, appliedLSN, clockNs)
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        for value in [durableLSN, appliedLSN, clockNs, 0] { Wire.append(&out, value) }
        return out
    }

    public static func decode(_ body: [UInt8]) throws -> StandbyStatus {
        guard body.count == bytes, body[24...].allSatisfy({ $0 == 0 }) else {
            throw ProtocolError(.malformedBody, "standby status of \(body.count) bytes or non-zero padding")
        }
        return body.withUnsafeBytes { StandbyStatus(durableLSN: Wire.u64($0, 0), appliedLSN: Wire.u64($0, 8), clockNs: Wire.u64($0, 16)) }
    }
}
