// A frame: the 32-byte header and its body (Specs/protocol.md, "Frame").
//
// Decoding is in two steps so a reader never buffers more than it must:
// `FrameHeader.decode` checks the header (magic, version, reserved bytes,
// header CRC, body size against the limit) from its 32 bytes alone; only
// then does the reader wait for the body, which `checkBody` verifies.

public struct FrameHeader: Sendable, Equatable {
    /// One of `ProtocolFormat.versions`: 1 until `hello` agrees on another.
    public var version: UInt16
    public var operation: UInt16
    public var requestID: UInt64
    public var bodyBytes: Int
    public var bodyCRC: UInt32
    public var status: UInt16

    public init(
        operation: UInt16, requestID: UInt64, bodyBytes: Int, bodyCRC: UInt32, status: UInt16 = 0, version: UInt16 = ProtocolFormat.version
    ) {
        precondition(ProtocolFormat.versions.contains(version), "protocol version \(version)")
        self.version = version
        self.operation = operation
        self.requestID = requestID
        self.bodyBytes = bodyBytes
        self.bodyCRC = bodyCRC
        self.status = status
    }

    public func encoded(bodyBytesMax: Int = ProtocolFormat.frameBodyBytesMax) -> [UInt8] {
        precondition(bodyBytes >= 0 && bodyBytes <= bodyBytesMax, "body of \(bodyBytes) bytes")
        var out = ProtocolFormat.magic
        out.reserveCapacity(ProtocolFormat.headerBytes)
        Wire.append(&out, version)
        Wire.append(&out, operation)
        Wire.append(&out, requestID)
        Wire.append(&out, UInt32(bodyBytes))
        Wire.append(&out, bodyCRC)
        Wire.append(&out, status)
        Wire.append(&out, UInt16(0))
        let crc = out.withUnsafeBytes { Wire.maskedCRC($0) }
        Wire.append(&out, crc)
        return out
    }

    /// Decodes and checks a header. Errors carry the reply's status:
    /// `malformedFrame` (magic, reserved bytes, header CRC),
    /// `unsupportedVersion`, `frameTooLarge` (over `bodyBytesMax`: larger
    /// only for a standby reading its replication stream).
    public static func decode(_ p: UnsafeRawBufferPointer, bodyBytesMax: Int = ProtocolFormat.frameBodyBytesMax) throws -> FrameHeader {
        precondition(p.count >= ProtocolFormat.headerBytes, "a header is \(ProtocolFormat.headerBytes) bytes")
        guard Array(p[0..<4]) == ProtocolFormat.magic else { throw ProtocolError(.malformedFrame, "bad magic") }
        guard Wire.maskedCRC(UnsafeRawBufferPointer(rebasing: p[0..<28])) == Wire.u32(p, 28) else {
            throw ProtocolError(.malformedFrame, "header checksum mismatch")
        }
        // The CRC held: the operation and request id are the sender's, echoed
        // in the refusal.
        let (operation, requestID) = (Wire.u16(p, 6), Wire.u64(p, 8))
        guard ProtocolFormat.versions.contains(Wire.u16(p, 4)) else {
            throw ProtocolError(.unsupportedVersion, "protocol version \(Wire.u16(p, 4))", echoOperation: operation, echoRequestID: requestID)
        }
        guard Wire.u16(p, 26) == 0 else {
            throw ProtocolError(.malformedFrame, "reserved header bytes are not zero", echoOperation: operation, echoRequestID: requestID)
        }
        let bodyBytes = Int(Wire.u32(p, 16))
        guard bodyBytes <= bodyBytesMax else {
            throw ProtocolError(.frameTooLarge, "body of \(bodyBytes) bytes; at most \(bodyBytesMax)", echoOperation: operation, echoRequestID: requestID)
        }
        return FrameHeader(
            operation: operation, requestID: requestID, bodyBytes: bodyBytes, bodyCRC: Wire.u32(p, 20), status: Wire.u16(p, 24), version: Wire.u16(p, 4))
    }

    /// The body must match its CRC (`bodyChecksumMismatch` otherwise).
    public func checkBody(_ body: UnsafeRawBufferPointer) throws {
        precondition(body.count == bodyBytes, "body of \(body.count) bytes for a header saying \(bodyBytes)")
        guard Wire.maskedCRC(body) == bodyCRC else { throw ProtocolError(.bodyChecksumMismatch, "body checksum mismatch") }
    }
}

/// A whole frame in one array (for clients, tests and error replies).
public enum Frame {
    public static func encode(
        operation: UInt16, requestID: UInt64, body: [UInt8], status: ProtocolStatus = .ok, bodyBytesMax: Int = ProtocolFormat.frameBodyBytesMax,
        version: UInt16 = ProtocolFormat.version
    ) -> [UInt8] {
        let crc = body.withUnsafeBytes { Wire.maskedCRC($0) }
        let header = FrameHeader(operation: operation, requestID: requestID, bodyBytes: body.count, bodyCRC: crc, status: status.rawValue, version: version)
        return header.encoded(bodyBytesMax: bodyBytesMax) + body
    }

    /// An error reply: the status and a message for people (truncated to
    /// `errorMessageBytesMax` bytes at a character boundary).
    public static func error(_ error: ProtocolError, operation: UInt16, requestID: UInt64, version: UInt16 = ProtocolFormat.version) -> [UInt8] {
        var message = Array(error.message.utf8)
        if message.count > ProtocolFormat.errorMessageBytesMax {
            var cut = ProtocolFormat.errorMessageBytesMax
            while cut > 0 && message[cut] & 0xC0 == 0x80 { cut -= 1 }  // not inside a UTF-8 sequence
            message = Array(message[0..<cut])
        }
        return encode(operation: operation, requestID: requestID, body: message, status: error.status, version: version)
    }

    /// Decodes a complete frame (header and exactly its body).
    public static func decode(_ bytes: [UInt8]) throws -> (header: FrameHeader, body: [UInt8]) {
        guard bytes.count >= ProtocolFormat.headerBytes else { throw ProtocolError(.malformedFrame, "frame shorter than its header") }
        let header = try bytes.withUnsafeBytes { (p) throws in try FrameHeader.decode(p) }
        guard bytes.count == ProtocolFormat.headerBytes + header.bodyBytes else {
            throw ProtocolError(.malformedFrame, "frame of \(bytes.count) bytes; its header says \(ProtocolFormat.headerBytes + header.bodyBytes)")
        }
        let body = Array(bytes[ProtocolFormat.headerBytes...])
        try body.withUnsafeBytes { (p) throws in try header.checkBody(p) }
        return (header, body)
    }
}
