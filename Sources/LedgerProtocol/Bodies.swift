// Request and reply bodies (Specs/protocol.md, "Bodies"). Every decoder
// checks sizes and limits before it reads, and throws `malformedBody` (or
// `unsupportedVersion` for a `hello` sharing no version).
import LedgerEngine

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

/// The event batch of `createAccounts` and `submitEntries`.
public enum EventBatchBody {
    public static func encode(_ batch: EventBatch) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + batch.bytes.count)
        Wire.append(&out, UInt32(batch.eventCount))
        Wire.append(&out, UInt32(batch.bytes.count))
        return out + batch.bytes
    }

    /// Decodes and validates the batch as the engine does; every event must
    /// be of a kind `operation` takes.
    public static func decode(_ body: [UInt8], for operation: ProtocolOperation) throws -> EventBatch {
        precondition(operation == .createAccounts || operation == .submitEntries, "\(operation) takes no event batch")
        guard body.count >= 8 else { throw ProtocolError(.malformedBody, "event batch shorter than 8 bytes") }
        let (count, bytes) = body.withUnsafeBytes { (Int(Wire.u32($0, 0)), Int(Wire.u32($0, 4))) }
        guard (1...Limits.batchEventsMax).contains(count) else {
            throw ProtocolError(.malformedBody, "\(count) events; a request holds 1...\(Limits.batchEventsMax)")
        }
        guard body.count == 8 + bytes else { throw ProtocolError(.malformedBody, "event bytes \(bytes) but the body holds \(body.count - 8)") }
        let batch: EventBatch
        do {
            batch = try EventBatch(validating: Array(body[8...]), eventCount: count)
        } catch {
            throw ProtocolError(.malformedBody, "\(error)")
        }
        let allowed: Set<UInt8> =
            operation == .createAccounts ? [EventFormat.kindCreateAccount, EventFormat.kindCloseAccount] : [EventFormat.kindCreateEntry]
        var offset = 0
        for index in 0..<count {
            let kind = batch.bytes[offset]
            guard allowed.contains(kind) else { throw ProtocolError(.malformedBody, "event \(index) is of kind \(kind), which \(operation) does not take") }
            offset += batch.bytes.withUnsafeBytes { EventBatchReader.eventSize($0, at: offset)! }
        }
        return batch
    }
}

/// One result code per event, padded to 8 bytes.
public enum ResultsBody {
    public static func encode(_ results: [ResultCode]) -> [UInt8] {
        var out = results.map(\.rawValue)
        out += [UInt8](repeating: 0, count: (8 - out.count % 8) % 8)
        return out
    }

    public static func decode(_ body: [UInt8], eventCount: Int) throws -> [ResultCode] {
        guard body.count == (eventCount + 7) / 8 * 8, body[eventCount...].allSatisfy({ $0 == 0 }) else {
            throw ProtocolError(.malformedBody, "results of \(body.count) bytes for \(eventCount) events")
        }
        var results: [ResultCode] = []
        for code in body[0..<eventCount] {
            guard let result = ResultCode(rawValue: code) else { throw ProtocolError(.malformedBody, "unknown result code \(code)") }
            results.append(result)
        }
        return results
    }
}

/// The id list of `lookupAccounts` and `lookupEntries`.
public enum IDListBody {
    public static func encode(_ ids: [UInt128]) -> [UInt8] {
        precondition((1...ProtocolFormat.idsPerRequestMax).contains(ids.count), "\(ids.count) ids")
        var out: [UInt8] = []
        out.reserveCapacity(8 + 16 * ids.count)
        Wire.append(&out, UInt32(ids.count))
        Wire.append(&out, UInt32(0))
        for id in ids { Wire.append(&out, id) }
        return out
    }

    public static func decode(_ body: [UInt8]) throws -> [UInt128] {
        try body.withUnsafeBytes { (p) throws -> [UInt128] in
            guard p.count >= 8 else { throw ProtocolError(.malformedBody, "id list shorter than 8 bytes") }
            let count = Int(Wire.u32(p, 0))
            guard (1...ProtocolFormat.idsPerRequestMax).contains(count), Wire.u32(p, 4) == 0, p.count == 8 + 16 * count else {
                throw ProtocolError(.malformedBody, "id list of \(count) ids in \(p.count) bytes")
            }
            return (0..<count).map { Wire.u128(p, 8 + 16 * $0) }
        }
    }
}
