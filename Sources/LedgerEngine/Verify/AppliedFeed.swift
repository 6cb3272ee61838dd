// The WAL replay's applied events, as the segment checks compare them.

struct AppliedEvent {
    var timestamp: UInt64
    var lsn: UInt64
    var fingerprint: UInt64
}

/// The WAL replay's applied events, handed in chunks to the segment checks,
/// which run on another thread at the same time (verify has two independent
/// halves; on 2 cores they overlap). Chunks are immutable once published.
final class AppliedFeed: @unchecked Sendable {
    static let chunkEvents = 1 << 16
    private let lock = ConditionLock()
    private var chunks: [[AppliedEvent]] = []
    private var total = 0
    private var finished = false
    private(set) var logClosedCleanly = false

    func publish(_ chunk: [AppliedEvent]) {
        guard !chunk.isEmpty else { return }
        lock.withLock {
            chunks.append(chunk)
            total += chunk.count
            lock.broadcast()
        }
    }

    func finish(logClosedCleanly: Bool) {
        lock.withLock {
            finished = true
            self.logClosedCleanly = logClosedCleanly
            lock.broadcast()
        }
    }

    /// Chunk `i`, waiting for it; nil once the feed is finished without it.
    func chunk(_ i: Int) -> [AppliedEvent]? {
        lock.withLock {
            while i >= chunks.count && !finished { lock.wait() }
            return i < chunks.count ? chunks[i] : nil
        }
    }

    /// Every event's count, once finished.
    func finalCount() -> Int {
        lock.withLock {
            while !finished { lock.wait() }
            return total
        }
    }

    /// Reads the feed in order.
    struct Reader {
        let feed: AppliedFeed
        private var chunkIndex = 0
        private var chunk: [AppliedEvent] = []
        private var inChunk = 0

        init(_ feed: AppliedFeed) { self.feed = feed }

        mutating func next() -> AppliedEvent? {
            while inChunk == chunk.count {
                guard let next = feed.chunk(chunkIndex) else { return nil }
                chunk = next
                chunkIndex += 1
                inChunk = 0
            }
            defer { inChunk += 1 }
            return chunk[inChunk]
        }
    }
}

extension Verifier {
    static func collectApplied(_ record: WALRecord, into applied: inout [AppliedEvent]) throws {
        guard record.header.type == WALFormat.recordTypeGroup else { return }
        try WALGroupPayload.forEachBatch(record.payload, validateEvents: false) { batch in
            var index = 0
            EventBatchReader.forEach(batch.events, eventCount: batch.eventCount) { offset, size in
                if batch.results[index] == ResultCode.ok.rawValue {
                    applied.append(
                        AppliedEvent(
                            timestamp: batch.timestamp + UInt64(index), lsn: record.header.lsn,
                            fingerprint: Fingerprint.of(batch.events, offset: offset, count: size)))
                }
                index += 1
            }
        }
    }
}
