/// Finds an entry in the WAL by id (for `ledgerctl lookup`). A linear scan:
/// the monthly segments of a later issue add an id index.
public struct FoundEntry: Sendable {
    public var entry: NewEntry
    public var timestamp: UInt64
    public var result: ResultCode?
    public var lsn: UInt64
    public var path: String
    public var offset: Int
}

public enum WALSearch {
    /// Every event with this entry id, accepted or not, in log order.
    public static func findEntry(id: UInt128, at path: String, storage: any Storage = POSIXStorage()) throws -> [FoundEntry] {
        let directory = try ReadOnlyDirectory(at: path, storage: storage)
        defer { directory.close() }
        let layout = directory.layout
        var found: [FoundEntry] = []
        _ = try WALReader(storage: storage, layout: layout).scan(mode: .verify) { record in
            guard record.header.type == WALFormat.recordTypeGroup else { return }
            try WALGroupPayload.forEachBatch(record.payload) { batch in
                var index = 0
                EventBatchReader.forEach(batch.events, eventCount: batch.eventCount) { offset, _ in
                    defer { index += 1 }
                    guard batch.events[offset] == EventFormat.kindCreateEntry, _LE.u128(batch.events, offset + EventFormat.idOffset) == id else { return }
                    guard case .createEntry(let entry) = EventBatchReader.decode(batch.events, at: offset) else { return }
                    found.append(
                        FoundEntry(
                            entry: entry, timestamp: batch.timestamp + UInt64(index), result: ResultCode(rawValue: batch.results[index]),
                            lsn: record.header.lsn, path: record.path, offset: record.offset))
                }
            }
        }
        return found
    }
}
