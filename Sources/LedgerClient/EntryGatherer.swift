// Automatic batching: concurrent single-entry submissions share a request.
//
// A call is sent at once while fewer than `gatherRequestsInFlightMax`
// gathered requests are in flight; otherwise it waits in the open batch,
// which goes out when one of them is answered (or when it is full). So at low
// load a call costs one round trip, and under load requests grow to match it
// — the client-side half of group commit.
import LedgerModel
import LedgerProtocol

struct EntryGatherer {
    var batch = EventBatch()
    var waiters: [CheckedContinuation<ResultCode, any Error>] = []
    var requestsInFlight = 0

    mutating func take() -> (EventBatch, [CheckedContinuation<ResultCode, any Error>]) {
        defer {
            batch = EventBatch()
            waiters = []
        }
        return (batch, waiters)
    }
}

extension LedgerClient {
    func gather(_ single: EventBatch) async throws -> ResultCode {
        precondition(single.eventCount == 1, "gather takes one event")
        return try await withCheckedThrowingContinuation { continuation in
            // An event that would overflow the open batch sends it first.
            if gatherer.batch.eventCount > 0 && gatherer.batch.bytes.count + single.bytes.count > Limits.batchBytesMax {
                sendGathered()
            }
            gatherer.batch.bytes += single.bytes
            gatherer.batch.eventCount += 1
            gatherer.waiters.append(continuation)
            if gatherer.requestsInFlight < configuration.gatherRequestsInFlightMax || gatherer.batch.eventCount >= configuration.gatherEventsMax {
                sendGathered()
            }
        }
    }

    private func sendGathered() {
        guard gatherer.batch.eventCount > 0 else { return }
        let (batch, waiters) = gatherer.take()
        gatherer.requestsInFlight += 1
        Task {
            await self.deliver(batch, to: waiters)
        }
    }

    private func deliver(_ batch: EventBatch, to waiters: [CheckedContinuation<ResultCode, any Error>]) async {
        do {
            let results = try await submitBatch(batch, operation: .submitEntries)
            for (waiter, result) in zip(waiters, results) { waiter.resume(returning: result) }
        } catch {
            for waiter in waiters { waiter.resume(throwing: error) }
        }
        gatherer.requestsInFlight -= 1
        if gatherer.requestsInFlight < configuration.gatherRequestsInFlightMax { sendGathered() }
    }
}
