// The wire protocol's constants, operations and statuses. Specs/protocol.md
// is normative; the frame codec is in Frame.swift, the bodies in
// *Bodies.swift. Pure value code, no I/O: the server (SwiftNIO) and the
// clients frame bytes with it.
import LedgerModel

public enum ProtocolFormat {
    /// The version of every frame before `hello` agrees on one (and of
    /// connections that asked for no more, like the replication stream's).
    public static let version: UInt16 = 1
    /// The versions this code speaks (Specs/protocol.md, "Versioning"). 2:
    /// write replies carry their commit LSN, reads carry a minimum LSN.
    public static let versions: ClosedRange<UInt16> = 1...2
    public static let readYourWritesVersion: UInt16 = 2
    /// The longest a read may wait for its minimum LSN (a larger wait is
    /// refused with `malformedBody`).
    public static let readWaitMillisecondsMax: UInt32 = 60_000
    public static let magic: [UInt8] = Array("LDGP".utf8)
    public static let headerBytes = 32
    /// A 4 MiB event batch plus its 8-byte header, rounded up to 64.
    public static let frameBodyBytesMax = 4_194_368
    /// Frames of the replication stream (primary → standby, only after the
    /// standby sent `replicate`): the largest WAL record (16 MiB + 32) plus
    /// the message and `walRecords` headers, rounded up (Specs/replication.md).
    public static let replicationFrameBodyBytesMax = 16_777_280
    /// Stream bytes a primary sends beyond a standby's acknowledged durable
    /// LSN before it waits (a slow standby falls behind on the primary's
    /// disk, never in its memory).
    public static let replicationWindowBytes = 8 << 20
    public static let idsPerRequestMax = Limits.batchEventsMax
    public static let historyItemsMax = 1_000
    public static let inFlightMaxDefault = 64
    public static let keyIDBytes = 1...64
    public static let secretBytes = 16...128
    public static let errorMessageBytesMax = 1_024
    public static let defaultPort = 7380
}

public enum ProtocolOperation: UInt16, Sendable, CaseIterable {
    case hello = 1
    case createAccounts = 2
    case submitEntries = 3
    case lookupAccounts = 4
    case lookupEntries = 5
    case accountHistory = 6
    case balanceAsOf = 7
    case status = 8
    /// Replication (Specs/replication.md).
    case replicate = 9
    case standbyStatus = 10
    case baseBackup = 11
    /// Operator commands (AdminBodies.swift), for `admin` keys.
    case admin = 12
}

/// A reply's status (Specs/protocol.md, "Status").
public enum ProtocolStatus: UInt16, Sendable, CaseIterable {
    case ok = 0
    case malformedFrame = 1
    case bodyChecksumMismatch = 2
    case unsupportedVersion = 3
    case unauthenticated = 4
    case unknownOperation = 5
    case frameTooLarge = 6
    case malformedBody = 7
    case busy = 8
    case rateLimited = 9
    case tooManyInFlight = 10
    case shuttingDown = 11
    case engineStopped = 12
    case unsupported = 13
    case internalError = 14
    // 15-18 and 20 belong to replication (Specs/replication.md).
    case notPrimary = 15
    case diverged = 16
    case needBaseBackup = 17
    case notReplicated = 18
    /// The key's role does not allow the operation.
    case forbidden = 19
    /// A read's minimum LSN was not applied here within its wait.
    case behind = 20

    /// Whether the server closes the connection after replying.
    public var closesConnection: Bool {
        switch self {
        case .malformedFrame, .unsupportedVersion, .unauthenticated, .frameTooLarge, .shuttingDown, .engineStopped, .diverged, .needBaseBackup: true
        default: false
        }
    }
}

/// A protocol violation, with the status the reply carries.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: ProtocolStatus
    public var message: String
    /// The operation and request id of the refused frame, when its header was
    /// readable (valid magic and CRC) though refused (version, size): the
    /// reply echoes them, so a pipelining client knows which request failed.
    public var echoOperation: UInt16?
    public var echoRequestID: UInt64?

    public init(_ status: ProtocolStatus, _ message: String, echoOperation: UInt16? = nil, echoRequestID: UInt64? = nil) {
        precondition(status != .ok, "an error with status ok")
        self.status = status
        self.message = message
        self.echoOperation = echoOperation
        self.echoRequestID = echoRequestID
    }

    public var description: String { "\(status): \(message)" }
}

/// Little-endian reads and writes on raw buffers (bounds are the caller's:
/// every decoder checks sizes before it reads).
enum Wire {
    static func u16(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt16 { UInt16(p[o]) | UInt16(p[o + 1]) << 8 }
    static func u32(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(p[o + $1]) << (8 * UInt32($1)) } }
    static func u64(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(p[o + $1]) << (8 * UInt64($1)) } }
    static func u128(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt128 { UInt128(u64(p, o)) | UInt128(u64(p, o + 8)) << 64 }

    static func append(_ out: inout [UInt8], _ v: UInt16) { for i in 0..<2 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt16(i)))) } }
    static func append(_ out: inout [UInt8], _ v: UInt32) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    static func append(_ out: inout [UInt8], _ v: UInt64) { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
    static func append(_ out: inout [UInt8], _ v: UInt128) {
        append(&out, UInt64(truncatingIfNeeded: v))
        append(&out, UInt64(truncatingIfNeeded: v >> 64))
    }

    static func maskedCRC(_ bytes: UnsafeRawBufferPointer) -> UInt32 { Checksum.mask(Checksum.crc32c(bytes)) }
}
