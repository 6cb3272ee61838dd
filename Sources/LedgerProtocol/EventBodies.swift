// The bodies of `createAccounts` and `submitEntries` and their results
// (Specs/protocol.md, "Bodies"). Every decoder checks sizes and limits
// before it reads, and throws `malformedBody`.
import LedgerModel

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
    /// be of a kind `operation` takes. Any contiguous-index collection
    /// (an array, or a server's receive buffer): the event bytes are copied
    /// out of it once.
    public static func decode<Body: RandomAccessCollection<UInt8>>(_ body: Body, for operation: ProtocolOperation) throws -> EventBatch
    where Body.Index == Int {
        precondition(operation == .createAccounts || operation == .submitEntries, "\(operation) takes no event batch")
        guard body.count >= 8 else { throw ProtocolError(.malformedBody, "event batch shorter than 8 bytes") }
        let start = body.startIndex
        let u32 = { (o: Int) in (0..<4).reduce(0) { $0 | Int(body[start + o + $1]) << (8 * $1) } }
        let (count, bytes) = (u32(0), u32(4))
        guard (1...Limits.batchEventsMax).contains(count) else {
            throw ProtocolError(.malformedBody, "\(count) events; a request holds 1...\(Limits.batchEventsMax)")
        }
        guard body.count == 8 + bytes else { throw ProtocolError(.malformedBody, "event bytes \(bytes) but the body holds \(body.count - 8)") }
        let batch: EventBatch
        do {
            batch = try EventBatch(validating: Array(body[(start + 8)...]), eventCount: count)
        } catch {
            throw ProtocolError(.malformedBody, "\(error)")
        }
        try checkKinds(batch, for: operation)
        return batch
    }

    /// The checks `decode` makes, on a batch built locally (clients check
    /// before sending, so a bad batch fails without a round trip).
    public static func validate(_ batch: EventBatch, for operation: ProtocolOperation) throws {
        guard (1...Limits.batchEventsMax).contains(batch.eventCount) else {
            throw ProtocolError(.malformedBody, "\(batch.eventCount) events; a request holds 1...\(Limits.batchEventsMax)")
        }
        do {
            try batch.bytes.withUnsafeBytes { (p) throws in try EventBatchReader.validate(p, eventCount: batch.eventCount, allowEngineEvents: false) }
        } catch {
            throw ProtocolError(.malformedBody, "\(error)")
        }
        try checkKinds(batch, for: operation)
    }

    /// Every event must be of a kind `operation` takes.
    static func checkKinds(_ batch: EventBatch, for operation: ProtocolOperation) throws {
        let allowed: Set<UInt8> =
            operation == .createAccounts ? [EventFormat.kindCreateAccount, EventFormat.kindCloseAccount] : [EventFormat.kindCreateEntry]
        var offset = 0
        for index in 0..<batch.eventCount {
            let kind = batch.bytes[offset]
            guard allowed.contains(kind) else { throw ProtocolError(.malformedBody, "event \(index) is of kind \(kind), which \(operation) does not take") }
            offset += batch.bytes.withUnsafeBytes { EventBatchReader.eventSize($0, at: offset)! }
        }
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
