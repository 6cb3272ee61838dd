// The group payload of a WAL record (type 1): field offsets, writer and
// reader side by side. Normative: Specs/wal-format.md, "Group payload"
// (format version `WALFormat.version`).

/// One client batch inside a group record.
public struct WALBatchView {
    public var timestamp: UInt64
    public var eventCount: Int
    public var events: UnsafeRawBufferPointer
    public var results: UnsafeRawBufferPointer
}

/// The group payload (record type 1): its field offsets, its writer and its
/// reader, side by side.
public enum WALGroupPayload {
    // Group header (WALFormat.groupHeaderBytes).
    static let batchCountOffset = 0  // u32, ≥ 1
    static let reservedOffset = 4  // u32, zero
    static let committedLSNOffset = 8  // u64
    static let chainHashOffset = HashChain.fieldOffset  // 32 bytes
    // Batch header (WALFormat.batchHeaderBytes), then events, then results padded to 8.
    static let batchTimestampOffset = 0  // u64
    static let batchEventCountOffset = 8  // u32
    static let batchEventBytesOffset = 12  // u32

    /// Bytes a batch of `eventCount` events and `eventBytes` takes in a payload.
    public static func batchBytes(eventCount: Int, eventBytes: Int) -> Int {
        WALFormat.batchHeaderBytes + eventBytes + WALFormat.align8(eventCount)
    }

    // MARK: Writing

    /// Starts a group in `payload`: a zeroed header (batch count, committed
    /// LSN and chain hash are filled in by `finish` and `seal`). Batches
    /// follow at `WALFormat.groupHeaderBytes`.
    static func begin(_ payload: UnsafeMutableRawBufferPointer) {
        precondition(payload.count >= WALFormat.groupHeaderBytes, "payload buffer of \(payload.count) bytes")
        UnsafeMutableRawBufferPointer(rebasing: payload[0..<WALFormat.groupHeaderBytes]).initializeMemory(as: UInt8.self, repeating: 0)
    }

    /// Writes one batch at `offset`: header, `events`, then the result codes
    /// padded with zeros to 8 bytes. Returns the offset after it.
    static func putBatch(
        _ payload: UnsafeMutableRawBufferPointer, at offset: Int, timestamp: UInt64, eventCount: Int, events: UnsafeRawBufferPointer,
        results: ArraySlice<ResultCode>
    ) -> Int {
        precondition(results.count == eventCount && events.count % 8 == 0, "batch of \(eventCount) events, \(results.count) results, \(events.count) bytes")
        precondition(offset + batchBytes(eventCount: eventCount, eventBytes: events.count) <= payload.count, "batch runs past the payload buffer")
        _LE.put(payload, offset + batchTimestampOffset, timestamp)
        _LE.put(payload, offset + batchEventCountOffset, UInt32(eventCount))
        _LE.put(payload, offset + batchEventBytesOffset, UInt32(events.count))
        let eventsStart = offset + WALFormat.batchHeaderBytes
        UnsafeMutableRawBufferPointer(rebasing: payload[eventsStart..<(eventsStart + events.count)]).copyMemory(from: events)
        let resultsStart = eventsStart + events.count
        for (i, result) in results.enumerated() { payload[resultsStart + i] = result.rawValue }
        let end = resultsStart + WALFormat.align8(eventCount)
        for i in (resultsStart + eventCount)..<end { payload[i] = 0 }
        return end
    }

    /// Records the number of batches written.
    static func finish(_ payload: UnsafeMutableRawBufferPointer, batchCount: Int) {
        precondition(batchCount >= 1, "a group of \(batchCount) batches")
        _LE.put(payload, batchCountOffset, UInt32(batchCount))
    }

    /// Fills the committed LSN and the chain value of the group at `lsn`
    /// (`payload` is exactly the group's bytes); returns the chain value,
    /// which the caller advances its chain to once the record is durable.
    static func seal(_ payload: UnsafeMutableRawBufferPointer, lsn: UInt64, committedLSN: UInt64, chain: HashChain) -> [UInt8] {
        _LE.put(payload, committedLSNOffset, committedLSN)
        let value = chain.next(lsn: lsn, payload: UnsafeRawBufferPointer(payload))
        for i in 0..<HashChain.hashBytes { payload[chainHashOffset + i] = value[i] }
        return value
    }

    // MARK: Reading

    public static func committedLSN(_ payload: UnsafeRawBufferPointer) -> UInt64 { _LE.u64(payload, committedLSNOffset) }

    /// The chain value stored in a group payload.
    public static func chainHash(_ payload: UnsafeRawBufferPointer) -> [UInt8] {
        Array(payload[chainHashOffset..<(chainHashOffset + HashChain.hashBytes)])
    }

    /// Calls `body` for each batch; throws `corruption` (without a location;
    /// the caller adds it) when the payload's structure is inconsistent. A
    /// payload that passed its CRC but fails here was written by a broken
    /// writer, which is still corruption.
    ///
    /// `validateEvents: false` skips re-checking each event's structure; only
    /// for payloads this process encoded from validated batches, or that an
    /// earlier pass over the same bytes validated.
    public static func forEachBatch(_ payload: UnsafeRawBufferPointer, validateEvents: Bool = true, _ body: (WALBatchView) throws -> Void) throws {
        guard payload.count >= WALFormat.groupHeaderBytes else { throw LedgerError(.corruption, "group payload shorter than its header") }
        let batchCount = Int(_LE.u32(payload, batchCountOffset))
        guard batchCount >= 1, _LE.u32(payload, reservedOffset) == 0 else { throw LedgerError(.corruption, "group payload has \(batchCount) batches") }
        var offset = WALFormat.groupHeaderBytes
        for index in 0..<batchCount {
            guard offset + WALFormat.batchHeaderBytes <= payload.count else { throw LedgerError(.corruption, "batch \(index) header runs past the payload") }
            let timestamp = _LE.u64(payload, offset + batchTimestampOffset)
            let eventCount = Int(_LE.u32(payload, offset + batchEventCountOffset))
            let eventBytes = Int(_LE.u32(payload, offset + batchEventBytesOffset))
            let eventsStart = offset + WALFormat.batchHeaderBytes
            let resultsStart = eventsStart + eventBytes
            let end = resultsStart + WALFormat.align8(eventCount)
            guard end <= payload.count else { throw LedgerError(.corruption, "batch \(index) runs past the payload") }
            let events = UnsafeRawBufferPointer(rebasing: payload[eventsStart..<resultsStart])
            if validateEvents {
                do {
                    try EventBatchReader.validate(events, eventCount: eventCount)
                } catch let error as LedgerError {
                    throw LedgerError(.corruption, "batch \(index): \(error.message)")
                }
            }
            try body(
                WALBatchView(
                    timestamp: timestamp, eventCount: eventCount, events: events,
                    results: UnsafeRawBufferPointer(rebasing: payload[resultsStart..<(resultsStart + eventCount)])))
            offset = end
        }
        guard offset == payload.count else { throw LedgerError(.corruption, "\(payload.count - offset) trailing bytes in group payload") }
    }
}
