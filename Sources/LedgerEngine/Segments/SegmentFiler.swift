// Files every applied event into the segment of its UTC month, in commit
// order. Owned by whoever owns the WAL writer (the durability thread, or the
// engine during recovery).
//
// Segments are derived from the WAL: filing happens after a group is durable,
// segments are synced at index checkpoints and at close, and after a crash
// recovery re-files whatever a segment lacks. Event timestamps are unique and
// strictly increasing across the log, so "already filed" is simply
// `timestamp <= writer.lastTimestamp`.
public final class SegmentFiler {
    let storage: any Storage
    let layout: DataDirectoryLayout
    let directoryID: [UInt8]
    /// The segment being appended to. Only one is open: months only move forward.
    private var current: SegmentWriter?
    public private(set) var eventsFiled = 0

    public init(storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8]) {
        self.storage = storage
        self.layout = layout
        self.directoryID = directoryID
    }

    /// Files the applied events of one WAL group record. The payload must
    /// already be validated (encoded by the engine, or replayed).
    public func file(groupPayload payload: UnsafeRawBufferPointer, lsn: UInt64) throws {
        try WALGroupPayload.forEachBatch(payload, validateEvents: false) { batch in
            var index = 0
            var offset = 0
            while index < batch.eventCount {
                guard let size = EventBatchReader.eventSize(batch.events, at: offset) else {
                    preconditionFailure("filing a batch that was not validated")
                }
                if batch.results[index] == ResultCode.ok.rawValue {
                    let timestamp = batch.timestamp + UInt64(index)
                    let writer = try writer(for: timestamp)
                    if timestamp > writer.lastTimestamp {
                        try writer.append(event: UnsafeRawBufferPointer(rebasing: batch.events[offset..<(offset + size)]), lsn: lsn, timestamp: timestamp)
                        eventsFiled += 1
                    }
                }
                offset += size
                index += 1
            }
        }
    }

    private func writer(for timestamp: UInt64) throws -> SegmentWriter {
        if let current, current.header.month.contains(timestamp) { return current }
        let month = UTCMonth(containing: timestamp)
        if let current {
            precondition(current.header.month < month, "filing went back from \(current.header.month) to \(month)")
            // The month is over: make it durable before moving on. Sealing
            // (footer, totals, month root) is the next step of issue 3.
            try current.sync()
        }
        let next = try SegmentWriter(storage: storage, layout: layout, month: month, directoryID: directoryID)
        current = next
        return next
    }

    /// Makes everything filed durable (records, then the durable frontier).
    public func sync() throws {
        try current?.sync()
    }
}
