// Protocol version 2 (Specs/protocol.md, "Read-your-writes"): a write's
// `results` reply starts with the LSN its batch committed at, and every
// read request starts with a minimum LSN and how long it may wait for it.
// A standby answers such a read once it has applied that LSN, or `behind`
// at the deadline; a client that remembers its last write's LSN reads its
// own writes from any node.
import LedgerModel

/// `results` in protocol version 2: u64 commit LSN, then version 1's body.
public enum CommittedResultsBody {
    public static let headerBytes = 8

    public static func encode(_ results: [ResultCode], lsn: UInt64) -> [UInt8] {
        precondition(lsn > 0, "a committed batch has an LSN")
        var out: [UInt8] = []
        out.reserveCapacity(headerBytes + results.count + 7)
        Wire.append(&out, lsn)
        return out + ResultsBody.encode(results)
    }

    public static func decode(_ body: [UInt8], eventCount: Int) throws -> (results: [ResultCode], lsn: UInt64) {
        guard body.count >= headerBytes else { throw ProtocolError(.malformedBody, "results of \(body.count) bytes have no LSN") }
        let lsn = body.withUnsafeBytes { Wire.u64($0, 0) }
        guard lsn > 0 else { throw ProtocolError(.malformedBody, "results committed at LSN 0") }
        return (try ResultsBody.decode(Array(body[headerBytes...]), eventCount: eventCount), lsn)
    }
}

/// The 16 bytes before every read request body in protocol version 2
/// (`lookupAccounts`, `lookupEntries`, `accountHistory`, `balanceAsOf`).
public struct ReadConsistency: Sendable, Equatable {
    public static let bytes = 16
    /// Applied here before the read is served; 0: no wait, the read is served
    /// at once from whatever this node has applied.
    public var minLSN: UInt64
    /// How long the read may wait for `minLSN` (≤ `readWaitMillisecondsMax`);
    /// 0: answer `behind` at once if it is not applied.
    public var waitMilliseconds: UInt32

    public static let none = ReadConsistency(minLSN: 0, waitMilliseconds: 0)

    public init(minLSN: UInt64, waitMilliseconds: UInt32) {
        precondition(waitMilliseconds <= ProtocolFormat.readWaitMillisecondsMax, "wait of \(waitMilliseconds) ms")
        (self.minLSN, self.waitMilliseconds) = (minLSN, waitMilliseconds)
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.bytes)
        Wire.append(&out, minLSN)
        Wire.append(&out, waitMilliseconds)
        Wire.append(&out, UInt32(0))
        return out
    }

    /// The prefix and the read body after it.
    public static func split(_ body: [UInt8]) throws -> (ReadConsistency, [UInt8]) {
        guard body.count >= bytes else { throw ProtocolError(.malformedBody, "a version 2 read starts with \(bytes) bytes of minimum LSN and wait") }
        let (minLSN, wait, zero) = body.withUnsafeBytes { (Wire.u64($0, 0), Wire.u32($0, 8), Wire.u32($0, 12)) }
        guard zero == 0 else { throw ProtocolError(.malformedBody, "bytes 12..<16 of a read's prefix must be zero") }
        guard wait <= ProtocolFormat.readWaitMillisecondsMax else {
            throw ProtocolError(.malformedBody, "a read may wait at most \(ProtocolFormat.readWaitMillisecondsMax) ms, not \(wait)")
        }
        return (ReadConsistency(minLSN: minLSN, waitMilliseconds: wait), Array(body[bytes...]))
    }
}

extension ProtocolOperation {
    /// The operations whose requests carry `ReadConsistency` in version 2.
    public var isRead: Bool {
        switch self {
        case .lookupAccounts, .lookupEntries, .accountHistory, .balanceAsOf: true
        default: false
        }
    }
}
