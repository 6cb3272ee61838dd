// The `hello` request and reply (Specs/protocol.md, "Bodies"): version
// negotiation and the API key. Every decoder checks sizes and limits before
// it reads, and throws `malformedBody` (or `unsupportedVersion` for a
// `hello` sharing no version).
import LedgerModel

public struct HelloRequest: Sendable, Equatable {
    public var versions: ClosedRange<UInt16>
    public var keyID: String
    public var secret: [UInt8]

    public init(versions: ClosedRange<UInt16> = ProtocolFormat.version...ProtocolFormat.version, keyID: String, secret: [UInt8]) {
        self.versions = versions
        self.keyID = keyID
        self.secret = secret
    }

    public func encoded() -> [UInt8] {
        let key = Array(keyID.utf8)
        precondition(ProtocolFormat.keyIDBytes.contains(key.count) && ProtocolFormat.secretBytes.contains(secret.count), "key id or secret size")
        var out: [UInt8] = []
        Wire.append(&out, versions.lowerBound)
        Wire.append(&out, versions.upperBound)
        Wire.append(&out, UInt16(key.count))
        Wire.append(&out, UInt16(secret.count))
        return out + key + secret
    }

    public static func decode(_ body: [UInt8]) throws -> HelloRequest {
        try body.withUnsafeBytes { (p) throws -> HelloRequest in
            guard p.count >= 8 else { throw ProtocolError(.malformedBody, "hello shorter than 8 bytes") }
            let (low, high) = (Wire.u16(p, 0), Wire.u16(p, 2))
            let (k, s) = (Int(Wire.u16(p, 4)), Int(Wire.u16(p, 6)))
            guard low <= high, ProtocolFormat.keyIDBytes.contains(k), ProtocolFormat.secretBytes.contains(s), p.count == 8 + k + s else {
                throw ProtocolError(.malformedBody, "hello fields out of range")
            }
            guard let keyID = String(validating: body[8..<(8 + k)], as: UTF8.self) else { throw ProtocolError(.malformedBody, "key id is not UTF-8") }
            return HelloRequest(versions: low...high, keyID: keyID, secret: Array(body[(8 + k)...]))
        }
    }
}

public struct HelloReply: Sendable, Equatable {
    public var version: UInt16
    public var frameBodyBytesMax: Int
    public var eventsPerRequestMax: Int
    public var inFlightMax: Int
    public var directoryID: [UInt8]

    public init(version: UInt16, frameBodyBytesMax: Int, eventsPerRequestMax: Int, inFlightMax: Int, directoryID: [UInt8]) {
        precondition(directoryID.count == 16, "directory id of \(directoryID.count) bytes")
        (self.version, self.frameBodyBytesMax, self.eventsPerRequestMax, self.inFlightMax, self.directoryID) =
            (version, frameBodyBytesMax, eventsPerRequestMax, inFlightMax, directoryID)
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        Wire.append(&out, version)
        Wire.append(&out, UInt16(0))
        Wire.append(&out, UInt32(frameBodyBytesMax))
        Wire.append(&out, UInt32(eventsPerRequestMax))
        Wire.append(&out, UInt32(inFlightMax))
        return out + directoryID
    }

    public static func decode(_ body: [UInt8]) throws -> HelloReply {
        try body.withUnsafeBytes { (p) throws -> HelloReply in
            guard p.count == 32, Wire.u16(p, 2) == 0 else { throw ProtocolError(.malformedBody, "hello reply of \(p.count) bytes") }
            return HelloReply(
                version: Wire.u16(p, 0), frameBodyBytesMax: Int(Wire.u32(p, 4)), eventsPerRequestMax: Int(Wire.u32(p, 8)),
                inFlightMax: Int(Wire.u32(p, 12)), directoryID: Array(body[16..<32]))
        }
    }
}
