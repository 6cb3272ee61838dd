// The WAL replay's applied events, as the segment checks compare them.

struct AppliedEvent {
    var timestamp: UInt64
    var lsn: UInt64
    var fingerprint: UInt64
}

/// The WAL replay's applied events, handed in chunks to the segment checks,
/// which run on other threads at the same time (verify has two independent
/// halves; on 2 cores they overlap). Chunks are immutable once published.
/// The state machine gives every event a timestamp greater than the one
/// before it, so a month checked on its own finds where it meets the log by
/// its first record's timestamp (`firstPosition(atOrAfter:)`).
final class AppliedFeed: @unchecked Sendable {
    static let chunkEvents = 1 << 16
    /// The replay starts after an LSN at least this (the WAL's first LSN
    /// minus one): records at or below it are never compared, so the
    /// segment half checks them before the replay has chosen its start.
    let startLSNAtLeast: UInt64
    private let lock = ConditionLock()
    private var startLSN: UInt64?
    private var cancelled = false
    private var chunks: [[AppliedEvent]] = []
    /// The position (over the whole feed) of each chunk's first event.
    private var chunkStarts: [Int] = []
    private var total = 0
    private var finished = false
    private(set) var logClosedCleanly = false

    init(startLSNAtLeast: UInt64) { self.startLSNAtLeast = startLSNAtLeast }

    /// The replay's start: it applies the records after `lsn`.
    func setStart(afterLSN lsn: UInt64) {
        precondition(lsn >= startLSNAtLeast, "a replay start below the WAL's first record")
        lock.withLock {
            startLSN = lsn
            lock.broadcast()
        }
    }

    /// The LSN the replay starts after, waiting until it is chosen; `.max`
    /// (compare nothing) when the feed ends without one.
    func startAfterLSN() -> UInt64 {
        lock.withLock {
            while startLSN == nil && !finished { lock.wait() }
            return startLSN ?? .max
        }
    }

    /// Ends the feed without a replay (verify stopped early): the segment
    /// half stops at the next month.
    func cancel() {
        lock.withLock {
            cancelled = true
            finished = true
            lock.broadcast()
        }
    }

    var isCancelled: Bool { lock.withLock { cancelled } }

    func publish(_ chunk: [AppliedEvent]) {
        guard !chunk.isEmpty else { return }
        lock.withLock {
            chunks.append(chunk)
            chunkStarts.append(total)
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

    /// The position of the first event whose timestamp is at least
    /// `timestamp` (the feed's final count when there is none), waiting until
    /// the feed holds such an event or is finished. Binary search: the
    /// timestamps increase along the feed.
    func firstPosition(atOrAfter timestamp: UInt64) -> Int {
        lock.withLock {
            while !finished && (chunks.last?.last?.timestamp ?? 0) < timestamp { lock.wait() }
            let chunk = chunks.partitionPoint { ($0.last?.timestamp ?? 0) >= timestamp }
            guard chunk < chunks.count else { return total }
            return chunkStarts[chunk] + chunks[chunk].partitionPoint { $0.timestamp >= timestamp }
        }
    }

    /// The chunk holding `position` and the position's place in it, once
    /// the feed holds it; nil once the feed is finished without it.
    fileprivate func locate(_ position: Int) -> (chunk: Int, inChunk: Int)? {
        lock.withLock {
            while position >= total && !finished { lock.wait() }
            guard position < total else { return nil }
            let chunk = chunkStarts.partitionPoint { $0 > position } - 1
            return (chunk, position - chunkStarts[chunk])
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

        /// Reads the feed from `position` on (the end, if it never gets there).
        init(_ feed: AppliedFeed, from position: Int) {
            self.feed = feed
            guard let (chunkIndex, inChunk) = feed.locate(position), let chunk = feed.chunk(chunkIndex) else {
                self.chunkIndex = Int.max
                return
            }
            self.chunkIndex = chunkIndex + 1
            self.chunk = chunk
            self.inChunk = inChunk
        }

        mutating func next() -> AppliedEvent? {
            while inChunk == chunk.count {
                guard chunkIndex < Int.max, let next = feed.chunk(chunkIndex) else { return nil }
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

extension Array {
    /// The first index whose element satisfies `isAtOrPast` (the count when
    /// none does), for an array where every element that satisfies it comes
    /// after every element that does not: a binary search.
    fileprivate func partitionPoint(_ isAtOrPast: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = low + (high - low) / 2
            if isAtOrPast(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
