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
    /// Base backup: the image's size (the bytes `backupData` will carry)
    /// and number of files, first.
    case backupStart(imageBytes: UInt64, fileCount: UInt64)
    /// Base backup: a file of the image starts (its path relative to the
    /// data directory); `copyBytes` follow in `backupData`, then the file is
    /// extended with zeros to `totalBytes`.
    case backupFile(name: String, copyBytes: UInt64, totalBytes: UInt64)
    /// Base backup: bytes of the current file at `offset`.
    case backupData(offset: UInt64, bytes: [UInt8])
    /// Base backup: the image is complete.
    case backupEnd(snapshotLSN: UInt64, lastLSN: UInt64)

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
        case .backupFile(let name, let copyBytes, let totalBytes):
            precondition(Self.isValidBackupName(name), "backup file name \(name)")
            var b: [UInt8] = []
            Wire.append(&b, copyBytes)
            Wire.append(&b, totalBytes)
            Wire.append(&b, UInt16(name.utf8.count))
            (type, body) = (5, b + [UInt8](repeating: 0, count: 6) + Array(name.utf8))
        case .backupData(let offset, let bytes):
            var b: [UInt8] = []
            Wire.append(&b, offset)
            (type, body) = (6, b + bytes)
        case .backupEnd(let snapshotLSN, let lastLSN):
            var b: [UInt8] = []
            Wire.append(&b, snapshotLSN)
            Wire.append(&b, lastLSN)
            (type, body) = (7, b)
        case .backupStart(let imageBytes, let fileCount):
            var b: [UInt8] = []
            Wire.append(&b, imageBytes)
            Wire.append(&b, fileCount)
            (type, body) = (4, b)
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
        case 4:
            guard body.count == 16 else { throw bad("backupStart of \(body.count) bytes") }
            return body.withUnsafeBytes { .backupStart(imageBytes: Wire.u64($0, 0), fileCount: Wire.u64($0, 8)) }
        case 5:
            guard body.count > 24, body[18..<24].allSatisfy({ $0 == 0 }) else { throw bad("backupFile malformed") }
            let (copyBytes, totalBytes, nameBytes) = body.withUnsafeBytes { (Wire.u64($0, 0), Wire.u64($0, 8), Int(Wire.u16($0, 16))) }
            let name = String(decoding: body[24...], as: UTF8.self)
            guard nameBytes == body.count - 24, copyBytes <= totalBytes, isValidBackupName(name) else { throw bad("backupFile name or sizes invalid") }
            return .backupFile(name: name, copyBytes: copyBytes, totalBytes: totalBytes)
        case 6:
            guard body.count > 8 else { throw bad("backupData of \(body.count) bytes") }
            return .backupData(offset: body.withUnsafeBytes { Wire.u64($0, 0) }, bytes: Array(body[8...]))
        case 7:
            guard body.count == 16 else { throw bad("backupEnd of \(body.count) bytes") }
            return body.withUnsafeBytes { .backupEnd(snapshotLSN: Wire.u64($0, 0), lastLSN: Wire.u64($0, 8)) }
        default:
            throw bad("unknown type \(bytes[0])")
        }
    }

    /// A backup file's name: 1 to 255 bytes of `A-Z a-z 0-9 . _ -`, in at
    /// most one directory (`segments/…`, `snapshots/…`), never `.` or `..`:
    /// a hostile primary cannot make `basebackup` write outside its target.
    public static func isValidBackupName(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...255).contains(name.utf8.count), (1...2).contains(parts.count) else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part != "." && part != ".."
                && part.utf8.allSatisfy { c in
                    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
                }
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
