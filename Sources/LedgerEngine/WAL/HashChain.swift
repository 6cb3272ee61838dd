// The running SHA-256 chain over committed groups (tamper evidence: a CRC is
// not a MAC). See Specs/wal-format.md ("Hash chain").
//
//   chain_0 = SHA-256("LDGRCHAIN" ‖ directory id)
//   chain_n = SHA-256(chain_{n-1} ‖ LSN_n (u64 LE) ‖ group payload_n with its
//             chain field (bytes 16–47) read as zeros)
//
// Each group record stores chain_n in its payload. Anyone holding a recorded
// chain value can later check that no acknowledged group before it changed.

public struct HashChain: Sendable, Equatable {
    public static let hashBytes = 32
    /// Where the chain value sits in a group payload.
    public static let fieldOffset = 16

    public private(set) var head: [UInt8]

    public init(directoryID: [UInt8]) {
        precondition(directoryID.count == 16, "directory id of \(directoryID.count) bytes")
        head = Self.sha256([Array("LDGRCHAIN".utf8) + directoryID])
    }

    public init(head: [UInt8]) {
        precondition(head.count == Self.hashBytes, "chain head of \(head.count) bytes")
        self.head = head
    }

    /// The chain value for a group payload at `lsn` (its chain field is
    /// treated as zeros), without advancing.
    public func next(lsn: UInt64, payload: UnsafeRawBufferPointer) -> [UInt8] {
        precondition(payload.count >= Self.fieldOffset + Self.hashBytes, "group payload of \(payload.count) bytes")
        var lsnBytes = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { lsnBytes[i] = UInt8(truncatingIfNeeded: lsn >> (8 * UInt64(i))) }
        let zeros = [UInt8](repeating: 0, count: Self.hashBytes)
        return head.withUnsafeBytes { h in
            lsnBytes.withUnsafeBytes { l in
                zeros.withUnsafeBytes { z in
                    Self.sha256Parts([
                        h, l, UnsafeRawBufferPointer(rebasing: payload[0..<Self.fieldOffset]), z,
                        UnsafeRawBufferPointer(rebasing: payload[(Self.fieldOffset + Self.hashBytes)...]),
                    ])
                }
            }
        }
    }

    /// Advances to `value` (which the caller computed with `next`).
    public mutating func advance(to value: [UInt8]) {
        precondition(value.count == Self.hashBytes, "chain value of \(value.count) bytes")
        head = value
    }

    public var hex: String { head.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    static func sha256(_ parts: [[UInt8]]) -> [UInt8] {
        var result: [UInt8] = []
        func feed(_ index: Int, _ collected: [UnsafeRawBufferPointer]) {
            if index == parts.count {
                result = sha256Parts(collected)
                return
            }
            parts[index].withUnsafeBytes { feed(index + 1, collected + [$0]) }
        }
        feed(0, [])
        return result
    }

    /// SHA-256 of the concatenation of `parts`.
    static func sha256Parts(_ parts: [UnsafeRawBufferPointer]) -> [UInt8] { SHA256Hasher.digest(parts) }
}
