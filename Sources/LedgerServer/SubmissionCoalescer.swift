// Server-side group commit, first stage: the createAccounts/submitEntries
// requests an event loop decodes in one pass (across all its connections)
// are joined into as few engine batches as the limits allow, submitted
// together, and answered together.
//
// Why: the engine already puts everything queued during an fdatasync into
// one group, but each request still cost a queue operation and, on
// completion, one cross-thread hand-off back to its event loop — the
// wake-ups that dominate the server's profile at batch size 1
// (Benchmarks/RESULTS.md). Joined, a loop pays those once per pass.
//
// Semantics: a request's events stay contiguous and in order, and its
// results are exactly its own; joining only fixes the order of requests
// that were concurrent anyway. A joined batch never exceeds the engine's
// limits (events, bytes, group payload), so it is refused only for reasons
// each of its requests would have been refused for alone (`queueFull`, a
// stopped engine).
//
// Invariant: all state is touched on `loop` only.
import LedgerEngine
import NIOCore

final class SubmissionCoalescer: @unchecked Sendable {
    typealias Reply = (Result<Ledger.Committed, LedgerError>) -> Void

    private let loop: any EventLoop
    private let ledger: Ledger
    private let telemetry: ServerTelemetry
    private let joinedBytesMax: Int
    private var pending: [(batch: EventBatch, reply: Reply)] = []
    private var flushScheduled = false

    init(loop: any EventLoop, ledger: Ledger, telemetry: ServerTelemetry) {
        self.loop = loop
        self.ledger = ledger
        self.telemetry = telemetry
        // Room in a group payload for the group, batch and result headers
        // and the hold expiries the engine may put before the batch.
        joinedBytesMax = max(0, min(Limits.batchBytesMax, ledger.groupPayloadBytesMax - 128 * 1024))
    }

    /// Queues `batch`; `reply` runs on the loop once it is durable or refused.
    func enqueue(_ batch: EventBatch, _ reply: @escaping Reply) {
        loop.preconditionInEventLoop()
        pending.append((batch, reply))
        if !flushScheduled {
            flushScheduled = true
            // Runs after the loop has handled the reads of this pass.
            loop.execute { self.flush() }
        }
    }

    private func flush() {
        flushScheduled = false
        let items = pending
        pending.removeAll(keepingCapacity: true)
        var start = 0
        while start < items.count {
            var joined = items[start].batch
            var end = start + 1
            while end < items.count,
                joined.eventCount + items[end].batch.eventCount <= Limits.batchEventsMax,
                joined.bytes.count + items[end].batch.bytes.count <= joinedBytesMax
            {
                joined.bytes += items[end].batch.bytes
                joined.eventCount += items[end].batch.eventCount
                end += 1
            }
            submit(joined, Array(items[start..<end]))
            start = end
        }
    }

    private func submit(_ joined: EventBatch, _ items: [(batch: EventBatch, reply: Reply)]) {
        let loop = self.loop
        let replies = NIOLoopBound(items, eventLoop: loop)
        telemetry.engineBatchSubmitted()
        ledger.submit(joined) { result in
            loop.execute {
                let items = replies.value
                switch result {
                case .success(let committed):
                    let results = committed.results
                    precondition(results.count == joined.eventCount, "\(results.count) results for \(joined.eventCount) events")
                    var offset = 0
                    for item in items {
                        item.reply(.success(Ledger.Committed(results: Array(results[offset..<(offset + item.batch.eventCount)]), lsn: committed.lsn)))
                        offset += item.batch.eventCount
                    }
                case .failure(let error):
                    for item in items { item.reply(.failure(error)) }
                }
            }
        }
    }
}
