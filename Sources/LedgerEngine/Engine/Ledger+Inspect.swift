// `inspect` over the protocol (`admin`): the raw records of the WAL or of a
// month's segment, as a running engine's files hold them now, for an
// operator investigating without stopping the server. Reads only; the WAL
// is read through the durable LSN, nothing beyond.

extension Ledger {
    public struct InspectedRecord: Sendable {
        public var file: String
        public var offset: Int
        public var lsn: UInt64
        /// WAL: the record type (1 group, 2 close, 3 timeline); segment: nil.
        public var walType: UInt8?
        /// Segment: the event's time and the event; WAL: nil.
        public var timestamp: UInt64?
        public var event: Event?
        public var bytes: Int
    }

    public static let inspectRecordsMax = 10_000

    /// Up to `limit` WAL records from `fromLSN` on.
    public func inspectWAL(fromLSN: UInt64, limit: Int) throws -> [InspectedRecord] {
        precondition((1...Self.inspectRecordsMax).contains(limit), "limit \(limit)")
        let through = min(lastLSN.current, fromLSN &+ UInt64(limit - 1))
        guard fromLSN <= through else { return [] }
        var rows: [InspectedRecord] = []
        _ = try WALReader(storage: storage, layout: layout).scan(mode: .verify, throughLSN: through) { record in
            guard record.header.lsn >= fromLSN, rows.count < limit else { return }
            rows.append(
                InspectedRecord(
                    file: record.path, offset: record.offset, lsn: record.header.lsn, walType: record.header.type, timestamp: nil, event: nil,
                    bytes: record.header.payloadBytes))
        }
        return rows
    }

    /// Up to `limit` records of `month` (its segment, or its archive
    /// decompressed in memory).
    public func inspectSegment(_ month: UTCMonth, limit: Int) throws -> [InspectedRecord] {
        precondition((1...Self.inspectRecordsMax).contains(limit), "limit \(limit)")
        guard let form = try SegmentFiles.months(storage: storage, layout: layout).first(where: { $0.month == month })?.form else {
            throw LedgerError(.invalidInput, "no segment or archive for \(month)", path: layout.segmentPath(month))
        }
        let file = try SegmentFiles.openForReading(month, form: form, storage: storage, layout: layout, directoryID: meta.directoryID)
        defer { file.close() }
        var rows: [InspectedRecord] = []
        _ = try SegmentReader.scan(file: file) { record in
            guard rows.count < limit else { return }
            rows.append(
                InspectedRecord(
                    file: file.path, offset: record.offset, lsn: record.header.lsn, walType: nil, timestamp: record.header.timestamp,
                    event: EventBatchReader.decode(record.event, at: 0), bytes: record.event.count))
        }
        return rows
    }
}
